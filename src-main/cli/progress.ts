/** A progress bar on stderr for long CLI work (quiet when stderr is not a terminal). */
import cliProgress from 'cli-progress';

export interface Progress {
  update(done: number, total: number, extra?: string): void;
  stop(): void;
}

export function progressBar(label: string): Progress {
  if (!process.stderr.isTTY) {
    let lastPct = -1;
    return {
      // Non-interactive: a line every 10% so logs show progress without flooding.
      update(done, total, extra) {
        const pct = total ? Math.floor((done / total) * 10) * 10 : 0;
        if (pct !== lastPct && total > 20) {
          lastPct = pct;
          process.stderr.write(`${label}: ${done}/${total}${extra ? ` ${extra}` : ''}\n`);
        }
      },
      stop() {},
    };
  }
  const bar = new cliProgress.SingleBar(
    { format: `${label} [{bar}] {value}/{total} {percentage}% eta {eta_formatted} {extra}`, stream: process.stderr, hideCursor: true },
    cliProgress.Presets.shades_classic,
  );
  let started = false;
  let stopped = false;
  return {
    update(done, total, extra = '') {
      if (stopped) return;
      if (!started) {
        bar.start(total, done, { extra });
        started = true;
      } else {
        bar.setTotal(total);
        bar.update(done, { extra });
      }
    },
    stop() {
      if (started && !stopped) bar.stop();
      stopped = true;
    },
  };
}
