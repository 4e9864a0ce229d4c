import { describe, expect, it } from 'vitest';
import { parseTime } from '../../src/cli/options.js';
import { run } from '../../src/cli/program.js';

/**
 * Argument handling of the `datasync` command, through `run(argv, io)`: nothing here
 * may reach a server. The environment points at closed ports, so a command that tried
 * to connect would exit 3 instead of the 2 these tests expect.
 */
const ENV = { DATABASE_URL: 'postgres://postgres@127.0.0.1:1/postgres', REDIS_URL: 'redis://127.0.0.1:1' };

async function cli(args: string | readonly string[], env: Record<string, string> = ENV): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = '';
  let stderr = '';
  const code = await run(typeof args === 'string' ? args.split(' ').filter(Boolean) : [...args], {
    stdout: { write: (text: string) => (stdout += text) },
    stderr: { write: (text: string) => (stderr += text) },
    env,
  });
  return { code, stdout, stderr };
}

describe('datasync command: arguments', () => {
  it('--help lists the commands and the exit codes, on stdout, exit 0', async () => {
    const { code, stdout, stderr } = await cli('--help');
    expect(code).toBe(0);
    expect(stderr).toBe('');
    for (const command of ['migrate', 'outbox', 'dlq']) expect(stdout).toMatch(new RegExp(`^  ${command}\\b`, 'm'));
    expect(stdout).toContain('2 bad arguments');
  });

  it('--help of a group lists its subcommands; every leaf command has --help', async () => {
    expect((await cli('dlq --help')).stdout).toMatch(/list[\s\S]*show[\s\S]*replay[\s\S]*discard/);
    expect((await cli('outbox --help')).stdout).toMatch(/status[\s\S]*replay/);
    for (const leaf of ['migrate', 'outbox status', 'outbox replay', 'outbox cdc drop', 'dlq list', 'dlq show', 'dlq replay', 'dlq discard']) {
      const { code, stdout } = await cli(`${leaf} --help`);
      expect(code, leaf).toBe(0);
      expect(stdout, leaf).toContain(`Usage: datasync ${leaf}`);
      expect(stdout, leaf).toContain('--database <url>');
    }
    expect((await cli('dlq replay --help')).stdout).toContain('--transport <url>');
  });

  it('--version prints the package version', async () => {
    const { code, stdout } = await cli('--version');
    expect(code).toBe(0);
    expect(stdout.trim()).toMatch(/^\d+\.\d+\.\d+/);
  });

  it('a bad --since names the option, the value and the accepted forms: exit 2', async () => {
    const { code, stdout, stderr } = await cli('dlq list --schema s --since yesterday');
    expect(code).toBe(2);
    expect(stdout).toBe('');
    expect(stderr).toContain("datasync: option '--since <time>' argument 'yesterday' is invalid");
    expect(stderr).toContain('ISO 8601');
    expect(stderr).toContain('15m');
    expect(stderr).toContain("Run 'datasync dlq list --help' for usage.");
    expect((await cli('outbox replay --schema s --since 2026-02-30')).code).toBe(2);
  });

  it('an unsupported --transport scheme names the supported ones: exit 2, before connecting anywhere', async () => {
    const { code, stderr } = await cli('dlq replay 1 --schema s --transport kafka://user:secret@127.0.0.1:9092');
    expect(code).toBe(2);
    expect(stderr).toContain('--transport');
    expect(stderr).toContain('redis://, rediss://, nats://, tls:// (NATS over TLS), amqp://');
    expect(stderr).not.toContain('secret');
    const fromEnv = await cli('outbox replay --schema s --since 1h', { ...ENV, DATASYNC_TRANSPORT: 'mqtt://127.0.0.1:1883' });
    expect(fromEnv.code).toBe(2);
    expect(fromEnv.stderr).toContain('DATASYNC_TRANSPORT: "mqtt://127.0.0.1:1883" is not valid');
  });

  it('a missing --schema is named: exit 2', async () => {
    for (const args of ['dlq list', 'outbox status', 'migrate', 'dlq show 1']) {
      const { code, stderr } = await cli(args);
      expect(code, args).toBe(2);
      expect(stderr, args).toMatch(/required option '--schema <names?>' not specified/);
    }
  });

  it('dlq replay with no ids and no filters refuses and names --all: exit 2', async () => {
    const { code, stderr } = await cli('dlq replay --schema s');
    expect(code).toBe(2);
    expect(stderr).toContain('no dead letters selected');
    expect(stderr).toContain('--all');
    expect((await cli('dlq replay 3 --schema s --topic a.b.c')).code).toBe(2);
    expect((await cli('dlq replay --schema s --topic a.b.c --force')).code).toBe(2);
  });

  it('an empty filter (an unset shell variable) is refused, not read as "everything": exit 2', async () => {
    for (const option of ['--topic', '--consumer', '--error']) {
      const { code, stderr } = await cli(['dlq', 'replay', '--schema', 's', option, '']);
      expect(code, option).toBe(2);
      expect(stderr).toContain(option);
    }
  });

  it('bad numbers, schema names, ids, statuses and unknown options or commands: exit 2 naming them', async () => {
    const cases: [string, string][] = [
      ['dlq list --schema s --limit 0', "option '--limit <n>' argument '0' is invalid"],
      ['dlq replay --schema s --all --rate fast', "option '--rate <events/s>' argument 'fast' is invalid"],
      ['dlq list --schema Bad-Name', "option '--schema <name>' argument 'Bad-Name' is invalid"],
      ['migrate --schema ok,9bad', '"9bad" is not a schema name'],
      ['dlq show abc --schema s', '<id>: "abc" is not valid'],
      ['dlq list --schema s --status gone', 'Allowed choices are pending, replayed, discarded, all'],
      ['dlq list --schema s --colour', "unknown option '--colour'"],
      ['dlq lst --schema s', "unknown command 'lst'"],
      ['outbox replay --schema s --since 1h --until 2h', '--until'],
      ['dlq list --schema s --database mysql://127.0.0.1/x', '--database: "mysql://127.0.0.1/x" is not valid'],
    ];
    for (const [args, message] of cases) {
      const { code, stdout, stderr } = await cli(args);
      expect(code, args).toBe(2);
      expect(stdout, args).toBe('');
      expect(stderr, args).toContain(message);
      expect(stderr, args).toMatch(/^datasync: /);
    }
  });

  it('a group without a subcommand shows its help on stderr: exit 2', async () => {
    const { code, stderr } = await cli('dlq');
    expect(code).toBe(2);
    expect(stderr).toContain('Usage: datasync dlq');
  });
});

describe('parseTime', () => {
  const now = Date.parse('2026-11-24T12:00:00Z');

  it('reads ISO 8601 dates (midnight UTC) and date-times', () => {
    expect(parseTime('2026-11-24', now).toISOString()).toBe('2026-11-24T00:00:00.000Z');
    expect(parseTime('2026-11-24T10:00:00Z', now).toISOString()).toBe('2026-11-24T10:00:00.000Z');
    expect(parseTime('2026-11-24T10:00:00.250+02:00', now).toISOString()).toBe('2026-11-24T08:00:00.250Z');
    expect(parseTime('2026-11-24T10:00Z', now).toISOString()).toBe('2026-11-24T10:00:00.000Z');
  });

  it('reads durations ago', () => {
    expect(parseTime('15m', now).toISOString()).toBe('2026-11-24T11:45:00.000Z');
    expect(parseTime('2h', now).toISOString()).toBe('2026-11-24T10:00:00.000Z');
    expect(parseTime('7d', now).toISOString()).toBe('2026-11-17T12:00:00.000Z');
  });

  it('refuses anything else', () => {
    for (const bad of ['', 'yesterday', '15', '-2h', '2026-13-01', '2026-02-30', '2026-11-24T25:00:00Z', '1.5h', 'now']) {
      expect(() => parseTime(bad, now), bad).toThrow(/ISO 8601/);
    }
  });
});
