/**
 * Restart strategies as a pure function: given the child order and the child that
 * died, which children take part in the restart (in start order).
 */

/**
 * - `one_for_one`: only the dead child.
 * - `one_for_all`: every child (they share state and cannot outlive one another).
 * - `rest_for_one`: the dead child and every child after it: later children depend on
 *   earlier ones, which the child list itself encodes.
 */
export type Strategy = 'one_for_one' | 'one_for_all' | 'rest_for_one';

export const STRATEGIES: readonly Strategy[] = ['one_for_one', 'one_for_all', 'rest_for_one'];

/** Ids to stop (in reverse) and start again (in this order). Includes `failedId`. */
export function restartGroup(strategy: Strategy, order: readonly string[], failedId: string): string[] {
  const index = order.indexOf(failedId);
  if (index < 0) throw new Error(`restartGroup: '${failedId}' is not in the child order [${order.join(', ')}]`);
  switch (strategy) {
    case 'one_for_one':
      return [failedId];
    case 'one_for_all':
      return [...order];
    case 'rest_for_one':
      return order.slice(index);
  }
}
