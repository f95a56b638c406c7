// `sightline start`: the whole gateway in one command, shut down cleanly on SIGINT/SIGTERM.
import type { Config } from '../config/index.ts';
import { startProxy } from '../proxy/main.ts';

export async function startGateway(config: Config): Promise<void> {
  const proxy = await startProxy(config);
  console.log(`sightline: proxy listening on ${proxy.url} (sink: ${config.sink})`);
  console.log(`  OpenAI SDK:    baseURL ${proxy.url}/openai/v1`);
  console.log(`  Anthropic SDK: baseURL ${proxy.url}/anthropic`);
  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    console.log(`sightline: ${signal}: draining and flushing events…`);
    await proxy.close();
    process.exit(0);
  };
  process.on('SIGINT', () => void stop('SIGINT'));
  process.on('SIGTERM', () => void stop('SIGTERM'));
}
