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
