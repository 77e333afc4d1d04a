import { expect, test } from './fixtures';

test.describe('browser-mode server refusals', () => {
  const json = { 'content-type': 'application/json' };

  test('API calls need the token, a same-origin Origin and this server as Host', async ({ heatseg }) => {
    const app = await heatseg.start();
    const host = `127.0.0.1:${app.port}`;
    const summary = (headers: Record<string, string>) =>
      app.raw({ path: '/api/project.summary', method: 'POST', headers: { ...json, ...headers }, body: '{}' });

    const ok = await summary({ 'x-heatseg-token': app.token });
    expect(ok.status).toBe(200);
    expect(ok.json()).toMatchObject({ ok: true, result: { name: 'e2e-project' } });

    const noToken = await summary({});
    expect(noToken.status).toBe(401);
    expect(noToken.json()).toMatchObject({ ok: false, error: { code: 'unauthorized' } });

    const wrongToken = await summary({ 'x-heatseg-token': 'f'.repeat(48) });
    expect(wrongToken.status).toBe(401);

    const foreignOrigin = await summary({ 'x-heatseg-token': app.token, origin: 'http://evil.example' });
    expect(foreignOrigin.status).toBe(403);
    expect(foreignOrigin.json()).toMatchObject({ ok: false, error: { code: 'forbidden' } });

    const sameOrigin = await summary({ 'x-heatseg-token': app.token, origin: `http://${host}` });
    expect(sameOrigin.status).toBe(200);

    const rebound = await summary({ 'x-heatseg-token': app.token, host: `attacker.example:${app.port}` });
    expect(rebound.status).toBe(403);
    const otherPort = await summary({ 'x-heatseg-token': app.token, host: `127.0.0.1:${app.port + 1}` });
    expect(otherPort.status).toBe(403);
  });

  test('the page works only after visiting the token URL', async ({ page, heatseg }) => {
    const app = await heatseg.start();
    // Without the cookie the page loads but its API calls are refused, and it says so.
    await page.goto(`http://127.0.0.1:${app.port}/`);
    await expect(page.getByRole('alert')).toContainText('missing or wrong token');
    await expect(page.getByTestId('image-grid')).toHaveCount(0);

    const wrong = await page.goto(`http://127.0.0.1:${app.port}/?token=nope`);
    expect(wrong?.status()).toBe(401);

    await page.goto(app.url);
    await expect(page).toHaveURL(`http://127.0.0.1:${app.port}/`);
    await expect(page.getByTestId('project-title')).toHaveText('e2e-project');
    const cookies = await page.context().cookies();
    expect(cookies.find((c) => c.name === `heatseg_token_${app.port}`)).toMatchObject({ httpOnly: true, sameSite: 'Strict' });
  });
});
