// Which disks let a move's folder fsyncs wait for the window's flush (rename-order.ts): the mount
// under the target's folder, read from mountinfo text as Linux writes it.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { describe, expect, test } from 'vitest';
import { mountedType, renamesInOrder, typeUnder } from '../src/rename-order.js';

const MOUNTINFO = [
  '26 1 254:0 / / rw,relatime - ext4 /dev/vda rw,discard',
  '24 23 0:22 / /dev/shm rw,relatime - tmpfs tmpfs rw,size=24683748k',
  '90 26 8:17 / /media/taro/USB\\040DISK rw,nosuid,nodev shared:55 - vfat /dev/sdb1 rw,fmask=0022',
  '91 26 8:33 / /media/taro/backup rw,relatime shared:60 master:1 - exfat /dev/sdc1 rw',
  '92 91 8:34 / /media/taro/backup/inner rw,relatime - xfs /dev/sdc2 rw',
  '93 26 0:50 / /mnt/nas rw,relatime - cifs //nas/share rw',
  '',
].join('\n');

describe('the file system under a target folder', () => {
  test('the innermost mount holding the path gives the type; escaped spaces are read', () => {
    expect(typeUnder(MOUNTINFO, '/home/taro/backup')).toBe('ext4');
    expect(typeUnder(MOUNTINFO, '/media/taro/USB DISK/hokan')).toBe('vfat');
    expect(typeUnder(MOUNTINFO, '/media/taro/USB DISK')).toBe('vfat');
    expect(typeUnder(MOUNTINFO, '/media/taro/backup/hokan')).toBe('exfat');
    expect(typeUnder(MOUNTINFO, '/media/taro/backup/inner/hokan')).toBe('xfs');
    // A name that only starts like a mount point is not inside it.
    expect(typeUnder(MOUNTINFO, '/media/taro/backupx')).toBe('ext4');
    expect(typeUnder(MOUNTINFO, '/dev/shm/t')).toBe('tmpfs');
    expect(typeUnder('', '/x')).toBeUndefined();
  });

  test('a later mount over the same point hides the earlier one', () => {
    const text = `${MOUNTINFO}94 26 0:60 / /mnt/nas rw - ext4 /dev/sdd1 rw\n`;
    expect(typeUnder(text, '/mnt/nas/hokan')).toBe('ext4');
    expect(typeUnder(MOUNTINFO, '/mnt/nas/hokan')).toBe('cifs');
  });

  test.runIf(process.platform === 'linux')('read from a mountinfo file, for a real folder; only journalling file systems keep renames in order', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'hokan-mountinfo-'));
    try {
      const info = path.join(dir, 'mountinfo');
      await writeFile(info, `26 1 254:0 / / rw - ext4 /dev/vda rw\n92 26 8:1 / ${dir} rw - vfat /dev/sdb1 rw\n`);
      expect(await mountedType(dir, info)).toBe('vfat');
      await writeFile(info, `26 1 254:0 / / rw - ext4 /dev/vda rw\n`);
      expect(await mountedType(dir, info)).toBe('ext4');
      expect(await mountedType(path.join(dir, 'not-there'), info)).toBeUndefined();
      // This machine's own folder: whatever it is, the answer follows the type.
      const type = await mountedType(dir);
      expect(await renamesInOrder(dir)).toBe(['ext3', 'ext4', 'xfs', 'btrfs', 'zfs', 'tmpfs'].includes(type!));
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
