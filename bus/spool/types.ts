export interface SpoolOptions {
  dir: string;
  /** 'always': every batch is fsynced before flush() resolves; 'interval': every fsyncIntervalMs; 'never': the OS decides. */
  fsync: 'always' | 'interval' | 'never';
  fsyncIntervalMs: number;
  /** Bytes on disk plus queued; appends past it are refused (counted, warned once per episode). */
  maxBytes: number;
  segmentBytes: number;
  onWarn?: (msg: string) => void;
  /** Bound of the in-memory write queue (default 32 MiB); a full queue refuses appends like the cap does. */
  maxPendingBytes?: number;
  /**
   * When an append's `onDurable` runs: 'written' once its bytes are in the OS (survives kill -9), 'fsync' once
   * they are fsynced (survives power loss). Default 'written'.
   */
  ackAfter?: 'written' | 'fsync';
  /**
   * Write each turn's batch with a synchronous writev on the caller's thread instead of libuv's pool: one
   * syscall and no thread hop per turn, for a writer whose appends wait on it (write-ahead logging).
   */
  syncWrites?: boolean;
}

export interface SpoolWriter {
  /** Queues the record; false = refused (size cap or full write queue), counted in stats.refused. Never blocks on I/O. */
  append(record: Buffer | string, onDurable?: (ok: boolean) => void): boolean;
  /** False while append() would refuse for lack of room (size cap), or the last write failed. */
  accepting(): boolean;
  /** Resolves once everything appended so far is on disk: fsynced, or for fsync 'never' handed to the OS. */
  flush(): Promise<void>;
  close(): Promise<void>;
  readonly stats: { appended: number; refused: number; bytes: number };
}

export interface SpoolRecord {
  /** Opaque and totally ordered (fixed-width decimal, so string order = log order): commit it to mark this record and all before it done. */
  offset: string;
  data: Buffer;
}

export interface SpoolReaderOptions {
  onWarn?: (msg: string) => void;
  /** Fallback poll while waiting for new records; fs.watch usually wakes the reader sooner. */
  pollMs?: number;
}

export interface SpoolReader {
  /** Up to `max` records after the last one returned; waits up to waitMs (default 0) for at least one. */
  read(max: number, waitMs?: number): Promise<SpoolRecord[]>;
  /** Durably records that everything up to `offset` is processed, then deletes segments every consumer has passed. */
  commit(offset: string): Promise<void>;
  /** Bytes appended but not committed by this consumer. */
  lag(): { records?: number; bytes: number };
  close(): Promise<void>;
}
