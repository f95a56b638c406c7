// The proxy's event sink: every event is appended to this process's own spool first (about a microsecond,
// never blocking on I/O unless write-ahead asked for synchronous batch writes). In the embedded default the
// ingest worker reads the spool directly; with Kafka a forwarder moves it on. Either way an event is on disk
// before anything can lose it.
import type { EventSink, SinkStats } from '../contracts/sink.ts';
import { encodeBusEvent } from '../contracts/sink.ts';
import type { SpoolWriter } from './spool/index.ts';

export function createSpoolSink(writer: SpoolWriter): EventSink {
  const stats: SinkStats = { written: 0, refused: 0 };
  return {
    stats,
    write(event, onLogged) {
      // A refusal (spool at its size cap) is counted here and warned about by the spool itself.
      const accepted = writer.append(encodeBusEvent(event), onLogged);
      if (accepted) stats.written++;
      else stats.refused++;
      return accepted;
    },
    accepting: () => writer.accepting(),
    flush: () => writer.flush(),
    close: () => writer.close(),
  };
}
