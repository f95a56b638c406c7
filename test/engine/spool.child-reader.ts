// Child process for the cross-process tests: reads consumer <name> until <count> records arrived, committing
// each batch, and checks they are numbered 0..count-1 in order. Prints "ok <count>" or "bad <reason>".
import { openSpoolReader } from '../../bus/spool/index.ts';

const [dir, name, countArg] = process.argv.slice(2);
const count = Number(countArg);
if (!dir || !name || !Number.isInteger(count)) throw new Error('usage: spool.child-reader <dir> <name> <count>');
const reader = openSpoolReader(dir, name);
process.stdout.write('ready\n');
let next = 0;
const deadline = Date.now() + 20_000;
while (next < count && Date.now() < deadline) {
  const batch = await reader.read(1000, 500);
  for (const r of batch) {
    const seq = Number(r.data.toString('utf8'));
    if (seq !== next) {
      process.stdout.write(`bad expected ${next} got ${seq}\n`);
      process.exit(1);
    }
    next++;
  }
  const last = batch.at(-1);
  if (last) await reader.commit(last.offset);
}
await reader.close();
process.stdout.write(next === count ? `ok ${next}\n` : `bad timed out at ${next}\n`);
