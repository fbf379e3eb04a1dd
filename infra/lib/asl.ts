import { existsSync, readFileSync } from 'node:fs';

/**
 * The ASL file is owned by statemachine/; this module only reads it and checks that the
 * stack can fill every `${Placeholder}` it uses. A placeholder CDK does not substitute
 * would reach Step Functions verbatim and fail only at deploy time.
 */

const PLACEHOLDER = /\$\{([A-Za-z0-9_]+)\}/g;

export function placeholdersIn(definition: string): Set<string> {
  const names = new Set<string>();
  for (const match of definition.matchAll(PLACEHOLDER)) names.add(match[1]);
  return names;
}

/** Like CDK's definitionSubstitutions / `statemachine::substitute`: replace `${Name}` by value. */
export function substitute(definition: string, values: Record<string, string>): string {
  return definition.replace(PLACEHOLDER, (whole, name: string) => (name in values ? values[name] : whole));
}

export function aslExists(aslPath: string): boolean {
  return existsSync(aslPath);
}

/**
 * Reads the definition and verifies it is JSON with States and that the substitutions
 * cover every placeholder. Unused substitutions are allowed (a stage may be wired but
 * not yet referenced while the ASL evolves) and reported back to the caller.
 */
export function loadDefinition(
  aslPath: string,
  substitutionNames: Iterable<string>,
): { text: string; unusedSubstitutions: string[] } {
  if (!existsSync(aslPath)) {
    throw new Error(
      `state machine definition not found at ${aslPath}; it is written by statemachine/ ` +
        `(pass -c aslPath=... to use another file)`,
    );
  }
  const text = readFileSync(aslPath, 'utf8');
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (e) {
    throw new Error(`${aslPath} is not valid JSON: ${(e as Error).message}`);
  }
  if (typeof parsed !== 'object' || parsed === null || !('States' in parsed)) {
    throw new Error(`${aslPath} has no "States": not an Amazon States Language definition`);
  }
  const provided = new Set(substitutionNames);
  const used = placeholdersIn(text);
  const missing = [...used].filter((name) => !provided.has(name));
  if (missing.length > 0) {
    throw new Error(
      `${aslPath} uses placeholders the stack does not substitute: ${missing.map((m) => '${' + m + '}').join(', ')}`,
    );
  }
  return { text, unusedSubstitutions: [...provided].filter((name) => !used.has(name)) };
}

/** The state every rejection catcher leads to: a photo refused for what it is, not a fault. */
export const REJECTION_STATE = 'RecordRejection';

/** The errors a Task hands to `RecordRejection`, and the `${Placeholder}` of its function. */
export interface TaskRejections {
  readonly state: string;
  readonly placeholder: string;
  readonly errors: readonly string[];
}

interface AslState {
  Type?: string;
  Resource?: unknown;
  Catch?: { ErrorEquals?: unknown; Next?: unknown }[];
  Branches?: { States?: Record<string, AslState> }[];
}

/**
 * The rejection names per Task, read from the definition's catchers: the ASL is the one list
 * of what counts as a rejection, so the alarms that must not count rejections follow it.
 * Tasks inside Parallel branches are included; a Task whose Resource is not a placeholder is
 * not one of our functions and is left out.
 */
export function rejectionsByTask(definition: string): TaskRejections[] {
  const found: TaskRejections[] = [];
  const visit = (states: Record<string, AslState>) => {
    for (const [name, state] of Object.entries(states)) {
      for (const branch of state.Branches ?? []) visit(branch.States ?? {});
      if (state.Type !== 'Task' || typeof state.Resource !== 'string') continue;
      const placeholder = /^\$\{([A-Za-z0-9_]+)\}$/.exec(state.Resource)?.[1];
      if (placeholder === undefined) continue;
      const errors = (state.Catch ?? [])
        .filter((c) => c.Next === REJECTION_STATE && Array.isArray(c.ErrorEquals))
        .flatMap((c) => c.ErrorEquals as string[]);
      if (errors.length > 0) found.push({ state: name, placeholder, errors: [...new Set(errors)] });
    }
  };
  const parsed = JSON.parse(definition) as { States?: Record<string, AslState> };
  visit(parsed.States ?? {});
  return found;
}
