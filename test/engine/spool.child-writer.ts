// Child process for the kill -9 tests: appends numbered records forever, reporting after every flush how many
// are durable ("flushed <n>"), until the parent kills it.
import { openSpoolWriter } from '../../bus/spool/index.ts';

const [dir, fsync] = process.argv.slice(2);
if (!dir || (fsync !== 'always' && fsync !== 'interval' && fsync !== 'never')) throw new Error('usage: spool.child-writer <dir> <always|interval|never>');
const writer = openSpoolWriter({ dir, fsync, fsyncIntervalMs: 5, maxBytes: 1 << 30, segmentBytes: 256 * 1024, onWarn: (m) => process.stderr.write(`warn ${m}\n`) });
process.stdout.write('ready\n');
let seq = 0;
for (;;) {
  for (let i = 0; i < 500; i++) {
    if (!writer.append(JSON.stringify({ seq, pad: 'x'.repeat(seq % 300) }))) throw new Error('refused');
    seq++;
  }
  await writer.flush();
  process.stdout.write(`flushed ${seq}\n`);
}
