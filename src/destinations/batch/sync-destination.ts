import type { DestinationChange, SyncDestination } from '../port.js';
import { type BatchDestination, MAX_ITEMS_PER_REQUEST } from './destination.js';
import { type CatalogTarget, type FieldSpec, inferType } from './types.js';

/**
 * One sync's Batch catalog behind the pipeline's destination port. Custom attributes declared without
 * a type get a field of the type their first value shows, added to the catalog before it is sent.
 */
export function batchSyncDestination(destination: BatchDestination, target: CatalogTarget): SyncDestination {
  const fields = new Map<string, FieldSpec>(target.fields.map((f) => [f.name, f]));
  let current: CatalogTarget = target;

  function withInferredFields(changes: DestinationChange[]): boolean {
    let added = false;
    for (const c of changes) {
      for (const [name, value] of Object.entries(c.values ?? {})) {
        if (fields.has(name) || value === null) continue;
        fields.set(name, { name, type: inferType(value) });
        added = true;
      }
    }
    if (added) current = { ...target, fields: [...fields.values()] };
    return added;
  }

  return {
    label: `batch:${target.catalog}`,
    maxItemsPerRequest: MAX_ITEMS_PER_REQUEST,
    ensure: () => destination.ensureCatalog(current),
    admit: (items) => destination.spare(target.project, items),
    async send(changes, gate, options) {
      if (withInferredFields(changes)) await destination.ensureCatalog(current);
      const outcomes = await destination.send(
        current,
        changes.map(({ id, action, values }) => ({
          id,
          action,
          ...(values
            ? {
                values: Object.fromEntries(
                  Object.entries(values).filter(([k, v]) => v !== null || fields.has(k)),
                ),
              }
            : {}),
        })),
        gate,
        options,
      );
      return outcomes;
    },
    close: async () => undefined,
  };
}
