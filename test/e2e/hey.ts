/** hey's summary: the count of each status code and of socket errors. */
export function heyOutcome(output: string): { statuses: Record<string, number>; errors: number } {
  const statuses: Record<string, number> = {};
  for (const m of output.matchAll(/^\s+\[(\d{3})\]\s+(\d+) responses/gm)) statuses[m[1]] = Number(m[2]);
  const errorBlock = /Error distribution:\n([\s\S]*)$/.exec(output)?.[1] ?? '';
  const errors = [...errorBlock.matchAll(/^\s+\[(\d+)\]/gm)].reduce((sum, m) => sum + Number(m[1]), 0);
  return { statuses, errors };
}

export type HeyOutcome = ReturnType<typeof heyOutcome>;

/** Where hey runs: a container of the topology (the outsider), by `exec`. */
interface LoadHost {
  exec(container: string, script: string): Promise<{ stdout: string }>;
}

/**
 * hey at 32 connections against `url` from the outsider for as long as `action`
 * takes (then stopped with SIGINT, on which hey reports), and what it saw.
 */
export async function loadDuring<T>(topo: LoadHost, url: string, action: () => Promise<T>): Promise<{ result: T; outcome: HeyOutcome; report: string }> {
  // hey as the shell's own process (exec), whose pid the file holds: a background job would ignore SIGINT.
  const load = topo.exec('outsider', `echo $$ > /tmp/berth-e2e-hey.pid; exec hey -z 900s -c 32 -t 10 ${url}`);
  const stop = async () => {
    await topo.exec('outsider', 'kill -INT "$(cat /tmp/berth-e2e-hey.pid)"');
    const report = (await load).stdout;
    return { outcome: heyOutcome(report), report };
  };
  await new Promise((resolve) => setTimeout(resolve, 2000));
  try {
    const result = await action();
    return { result, ...(await stop()) };
  } catch (err) {
    await stop();
    throw err;
  }
}
