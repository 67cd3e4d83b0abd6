/** hey's summary: the count of each status code and of socket errors. */
export function heyOutcome(output: string): { statuses: Record<string, number>; errors: number } {
  const statuses: Record<string, number> = {};
  for (const m of output.matchAll(/^\s+\[(\d{3})\]\s+(\d+) responses/gm)) statuses[m[1]] = Number(m[2]);
  const errorBlock = /Error distribution:\n([\s\S]*)$/.exec(output)?.[1] ?? '';
  const errors = [...errorBlock.matchAll(/^\s+\[(\d+)\]/gm)].reduce((sum, m) => sum + Number(m[1]), 0);
  return { statuses, errors };
}
