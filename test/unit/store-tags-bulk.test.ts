import { describe, expect, it } from 'vitest';
import { Session } from '../../src-main/api/handlers';
import { ProjectStore } from '../../src-main/store/project';
import { tmpDir } from '../helpers/tmp';

describe('tags.bulk', () => {
  it('tags and untags many images in one call, counting only real changes, and refuses unknown ids whole', async () => {
    const store = ProjectStore.create(tmpDir());
    const session = new Session({ transport: 'http', version: 'test' });
    session.openProject(store);
    const cat = store.addClass('cat');
    const ids = [1, 2, 3].map((n) =>
      store.addImage({ hash: `h${n}`, fileName: `h${n}.png`, originalName: `${n}.png`, width: 4, height: 4, thumbnail: null }, n === 1 ? [cat.id] : [], null),
    );
    expect(await session.dispatch('tags.bulk', { imageIds: ids, classId: cat.id, on: true })).toEqual({ changed: 2, changedIds: [ids[1], ids[2]] });
    expect(ids.map((id) => store.imageSummary(id).tags)).toEqual([[cat.id], [cat.id], [cat.id]]);
    expect(await session.dispatch('tags.bulk', { imageIds: [ids[0]!, ids[0]!], classId: cat.id, on: false })).toEqual({ changed: 1, changedIds: [ids[0]] });
    // One unknown image: nothing changes.
    await expect(session.dispatch('tags.bulk', { imageIds: [ids[1]!, 999], classId: cat.id, on: false })).rejects.toThrow(/no image with id 999/);
    expect(store.imageSummary(ids[1]!).tags).toEqual([cat.id]);
    await expect(session.dispatch('tags.bulk', { imageIds: [], classId: cat.id, on: true })).rejects.toThrow(/imageIds/);
    await expect(session.dispatch('tags.bulk', { imageIds: [ids[1]!], classId: 77, on: true })).rejects.toThrow(/no class with id 77/);
    session.close();
  });
});
