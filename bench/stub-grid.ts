/**
 * A very large project without importing it: answers the renderer's project.summary, images.list
 * and images.thumbnail calls in the browser with generated rows (two classes, names img_00000.jpg…).
 * Shared by bench/ui.ts's grid scroll and the scale e2e test, so both measure the same grid.
 */
import type { Page } from 'playwright-core';
import sharp from 'sharp';
import type { ImageSummary, ProjectSummary } from '../src-shared/api';

export const STUB_ROUTE = /\/api\/(project\.summary|images\.list|images\.thumbnail)$/;

export interface StubGridOptions {
  total: number;
  /** The real project's summary: the stub keeps its name and path. */
  real: ProjectSummary;
  /** The thumbnail every card gets (default 64×48 PNG). */
  thumb?: { width: number; height: number; format: 'png' | 'webp' };
  /** Tags of the i-th image (class ids 1 = cat, 2 = dog). */
  tagsOf?: (i: number) => number[];
  /** Labelled pixels of the i-th image. */
  labelledOf?: (i: number) => number;
  /** Called with the offset of every images.list request. */
  onList?: (offset: number) => void;
  /** Called for every thumbnail request. */
  onThumbnail?: () => void;
}

export async function stubLargeGrid(page: Page, o: StubGridOptions): Promise<void> {
  const tagsOf = o.tagsOf ?? ((i) => (i % 3 === 0 ? [] : [1]));
  const labelledOf = o.labelledOf ?? (() => 0);
  const classes: ProjectSummary['classes'] = [
    { id: 1, name: 'cat', color: '#e6194b', position: 0, labelValue: 1, isBackground: false, taggedImages: 5000, labelledPixels: 123456 },
    { id: 2, name: 'dog', color: '#3cb44b', position: 1, labelValue: 2, isBackground: false, taggedImages: 3334, labelledPixels: 0 },
  ];
  const summary: ProjectSummary = { ...o.real, images: o.total, taggedImages: 8334, labelledImages: 100, classes };
  const t = o.thumb ?? { width: 64, height: 48, format: 'png' };
  const img = sharp({ create: { width: t.width, height: t.height, channels: 3, background: '#3060a0' } });
  const thumb = await (t.format === 'png' ? img.png() : img.webp()).toBuffer();
  await page.route(STUB_ROUTE, async (route) => {
    const method = new URL(route.request().url()).pathname.slice('/api/'.length);
    if (method === 'project.summary') return route.fulfill({ json: { ok: true, result: summary } });
    if (method === 'images.thumbnail') {
      o.onThumbnail?.();
      return route.fulfill({ body: thumb, contentType: 'application/octet-stream' });
    }
    const input = route.request().postDataJSON() as { offset?: number; limit?: number };
    const offset = input.offset ?? 0;
    o.onList?.(offset);
    const items: ImageSummary[] = [];
    for (let i = offset; i < Math.min(o.total, offset + (input.limit ?? 100)); i++) {
      items.push({
        id: i + 1,
        originalName: `img_${String(i).padStart(5, '0')}.jpg`,
        width: 640,
        height: 480,
        status: 'active',
        tags: tagsOf(i),
        labelledPixels: labelledOf(i),
      });
    }
    return route.fulfill({ json: { ok: true, result: { total: o.total, offset, items } } });
  });
}
