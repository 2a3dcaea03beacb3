/**
 * The API reference: TypeDoc with typedoc-plugin-markdown, one module per entry point of the
 * package's exports map (`utpx`, `utpx/protocol`, `utpx/sim`), written as Markdown so it reads on
 * GitHub and diffs in review. Deterministic: no source links (their line numbers would make every
 * edit anywhere in src/ a docs change), no generator stamp, no dates. Members marked `@internal` stay
 * out, as they do from the published types (tsup's stripInternal).
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { Application, LogLevel } from 'typedoc';

export const API_ENTRY_POINTS = ['src/index.ts', 'src/protocol.ts', 'src/sim/index.ts'];

/** Renders the reference; returns its files by path relative to the output folder. */
export async function renderApi(root: string): Promise<Map<string, string>> {
  const out = mkdtempSync(join(tmpdir(), 'utpx-api-'));
  try {
    const app = await Application.bootstrapWithPlugins({
      entryPoints: API_ENTRY_POINTS.map((p) => join(root, p)),
      tsconfig: join(root, 'scripts/docs/tsconfig.api.json'),
      plugin: ['typedoc-plugin-markdown'],
      out,
      readme: 'none',
      name: 'utpx API',
      excludeInternal: true,
      excludePrivate: true,
      excludeProtected: true,
      disableSources: true,
      disableGit: true,
      hideGenerator: true,
      githubPages: false,
      sort: ['source-order'],
      logLevel: LogLevel.Warn,
      // typedoc-plugin-markdown
      entryFileName: 'README.md',
      hidePageHeader: true,
      hideBreadcrumbs: true,
      useCodeBlocks: true,
      parametersFormat: 'table',
      interfacePropertiesFormat: 'table',
      classPropertiesFormat: 'table',
      typeAliasPropertiesFormat: 'table',
      enumMembersFormat: 'table',
      propertyMembersFormat: 'table',
      typeDeclarationFormat: 'table',
      // biome-ignore lint/suspicious/noExplicitAny: plugin options are not in TypeDoc's own option types
    } as any);
    const project = await app.convert();
    if (project === undefined) throw new Error('TypeDoc could not convert the entry points');
    await app.generateOutputs(project);
    if (app.logger.hasErrors()) throw new Error('TypeDoc reported errors');
    const files = new Map<string, string>();
    const walk = (dir: string) => {
      for (const name of readdirSync(dir).sort()) {
        const path = join(dir, name);
        if (statSync(path).isDirectory()) walk(path);
        else files.set(relative(out, path).split('\\').join('/'), readFileSync(path, 'utf8'));
      }
    };
    walk(out);
    return files;
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
}
