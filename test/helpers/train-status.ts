/** Polls `train.status` on a session until `pred` holds (or fails after `ms`, naming the state it was in). */
import type { TrainStatus } from '../../src-shared/api';
import type { Session } from '../../src-main/api/handlers';

export async function untilStatus(s: Session, pred: (st: TrainStatus) => boolean, ms = 120_000): Promise<TrainStatus> {
  const t0 = Date.now();
  for (;;) {
    const st = await s.dispatch('train.status', {});
    if (pred(st)) return st;
    if (Date.now() - t0 > ms) throw new Error(`timed out in state ${st.state}: ${st.message}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}
