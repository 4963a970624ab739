import type { MutableSteeringState } from '../steering/index.ts';
import { ROLES } from '../topology/index.ts';
import type { HealthVerdicts } from './controller.ts';

/**
 * The controller's verdicts as steering marks: a zone declared down has every role's endpoint
 * marked down, unless the health plane has already done so; on the way up only the marks the
 * controller set are cleared, so it never overrides the health plane's own verdict.
 */
export function steeringMarks(
  state: MutableSteeringState,
  health: HealthVerdicts | null,
): (zone: string, up: boolean) => void {
  const marked = new Set<string>();
  const healthSaysUp = (zone: string) => {
    try {
      return health ? health.zoneUp(zone) : true;
    } catch {
      return true;
    }
  };
  return (zone, up) => {
    if (!up) {
      if (health && !healthSaysUp(zone)) return;
      marked.add(zone);
    } else if (!marked.delete(zone)) return;
    for (const role of ROLES) state.setUp(`${zone}/${role}`, up);
  };
}
