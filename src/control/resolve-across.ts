/** What one process's POST /api/conflicts/resolve-all answers. */
export interface ResolveAllReply {
  resolved: string[];
  skipped: { id: string; reason: string; code?: string }[];
}

/** The merged outcome of a bulk resolution over several processes. */
export interface ResolvedAcross extends ResolveAllReply {
  /** Processes whose call failed (by name): their zones' conflicts may still be open. */
  failed: { control: string; error: string }[];
}

/**
 * Resolves every open conflict by one zone's version across several processes, each of which
 * knows only its own zones' conflicts (`call(p, body)` is that process's resolve-all). A
 * record locked in two processes' zones is reported by both, and resolving it in both would
 * write two concurrent resolutions and lock it again: so every process is first asked with
 * dryRun, each id goes to the first process that can resolve it, and each process then
 * resolves only its ids (`ids`). One process: one call, and its error is thrown as it came.
 * The CLI (`multizone conflicts resolve --all`) and the control API's cluster-wide route both
 * use it, with their own way of calling a process.
 */
export async function resolveAcross<P>(
  processes: readonly P[],
  name: (p: P) => string,
  call: (p: P, body: Record<string, unknown>) => Promise<ResolveAllReply>,
  body: Record<string, unknown>,
  dryRun: boolean,
): Promise<ResolvedAcross> {
  if (processes.length === 1) {
    const r = await call(processes[0]!, { ...body, dryRun });
    return { resolved: [...new Set(r.resolved)].sort(), skipped: r.skipped, failed: [] };
  }
  const failed: ResolvedAcross['failed'] = [];
  const owner = new Map<string, P>(); // conflict id → the process that resolves it
  const skipped = new Map<string, ResolveAllReply['skipped'][number]>();
  const plans = await Promise.all(
    processes.map(async (p) => {
      try {
        return await call(p, { ...body, dryRun: true });
      } catch (e) {
        failed.push({ control: name(p), error: (e as Error).message });
        return undefined;
      }
    }),
  );
  processes.forEach((p, i) => {
    for (const id of plans[i]?.resolved ?? []) if (!owner.has(id)) owner.set(id, p);
    for (const s of plans[i]?.skipped ?? []) if (!skipped.has(s.id)) skipped.set(s.id, s);
  });
  const resolved = new Set<string>();
  if (dryRun) for (const id of owner.keys()) resolved.add(id);
  else
    await Promise.all(
      processes.map(async (p) => {
        const ids = [...owner].filter(([, c]) => c === p).map(([id]) => id);
        if (ids.length === 0) return;
        try {
          const r = await call(p, { ...body, ids });
          for (const id of r.resolved) resolved.add(id);
          for (const s of r.skipped) skipped.set(s.id, s);
        } catch (e) {
          failed.push({ control: name(p), error: (e as Error).message });
          for (const id of ids) skipped.set(id, { id, reason: `${name(p)} failed: ${(e as Error).message}` });
        }
      }),
    );
  for (const id of resolved) skipped.delete(id);
  return {
    resolved: [...resolved].sort(),
    skipped: [...skipped.values()].sort((a, b) => (a.id < b.id ? -1 : 1)),
    failed,
  };
}
