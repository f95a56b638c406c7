// Reloading the config without a restart: on a change to the file (editors that replace it included) or on
// SIGHUP, the file is read and validated in full; only a valid one replaces the running config. An invalid one
// keeps the old and says which fields are wrong, by their paths.
import { watch } from 'node:fs';
import type { FSWatcher } from 'node:fs';
import path from 'node:path';
import type { Config } from './index.ts';
import { ConfigError, configFilePath, configWarnings, loadConfig } from './index.ts';

type Env = Record<string, string | undefined>;

export interface ConfigWatch {
  /** Reads and applies the file now (what SIGHUP does). */
  reload(): void;
  close(): void;
}

export interface WatchOptions {
  env: Env;
  apply: (config: Config) => void;
  /** One line per event: reloaded, refused (with the field paths), warnings. */
  report: (message: string) => void;
  /** Changes closer together than this are read once. */
  debounceMs?: number;
}

export function watchConfig({ env, apply, report, debounceMs = 100 }: WatchOptions): ConfigWatch {
  const file = configFilePath(env);
  const reload = () => {
    let next: Config;
    try {
      next = loadConfig(env);
    } catch (err) {
      const issues = err instanceof ConfigError ? err.issues : [(err as Error).message];
      report(`config not reloaded, the running one stays: ${issues.join('; ')}`);
      return;
    }
    try {
      apply(next);
    } catch (err) {
      report(`config not reloaded, the running one stays: ${(err as Error).message}`);
      return;
    }
    for (const w of configWarnings(next)) report(`config: ${w}`);
    report(`config reloaded from ${file ?? 'the environment'}: ${next.models.length} model deployment(s)`);
  };
  let watcher: FSWatcher | undefined;
  let timer: NodeJS.Timeout | undefined;
  if (file !== undefined) {
    // The directory, not the file: an editor that saves by renaming a new file over the old one ends a file watch.
    const base = path.basename(file);
    try {
      watcher = watch(path.dirname(path.resolve(file)), (_event, name) => {
        if (name !== null && name !== base) return;
        clearTimeout(timer);
        timer = setTimeout(reload, debounceMs);
      });
      watcher.unref();
    } catch (err) {
      report(`config file ${file} is not watched (${(err as Error).message}); send SIGHUP to reload`);
    }
  }
  return {
    reload,
    close() {
      clearTimeout(timer);
      watcher?.close();
    },
  };
}
