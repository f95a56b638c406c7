// A stand-in ClickHouse server process: chDB on a data dir behind our ClickHouse HTTP interface, writable.
// Run by clickhouse-server.ts; SIGKILL on it is a ClickHouse server dying mid-run. Usage: <dataDir> <port>
import { createClickHouse } from '../../analytics/client.ts';
import { startClickHouseHttp } from '../../analytics/http-server.ts';

const [dataDir, port] = process.argv.slice(2);
if (dataDir === undefined || port === undefined) {
  console.error('usage: clickhouse-server.child.ts <dataDir> <port>');
  process.exit(2);
}
const client = createClickHouse({ dataDir, user: 'default', password: '' });
const server = await startClickHouseHttp(client, { host: '127.0.0.1', port: Number(port), readOnly: false });
console.log(`clickhouse listening on ${server.port}`);

const stop = async () => {
  await server.close();
  await client.close();
  process.exit(0);
};
process.on('SIGTERM', () => void stop());
process.on('SIGINT', () => void stop());
