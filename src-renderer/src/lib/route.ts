/**
 * The workbench's place in the URL: `#/image/ID` while an image is open, `#/` on the grid, so a
 * reload returns to the image and back / forward move between the images and the grid. A hash
 * route: the server serves one page, and the fragment never reaches it.
 */

/** The image id in a location hash, or null (the grid, or anything else). */
export function parseRoute(hash: string): number | null {
  const m = /^#\/image\/(\d{1,15})$/.exec(hash);
  const id = m ? Number(m[1]) : NaN;
  return Number.isSafeInteger(id) && id > 0 ? id : null;
}

export function routeHash(imageId: number | null): string {
  return imageId === null ? '#/' : `#/image/${imageId}`;
}
