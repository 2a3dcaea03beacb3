/**
 * Links from the docs into the code that stay right as the code moves: every Markdown link to a
 * TypeScript file with a line anchor — `[ConnectionCore.onAck](../src/core/connection.ts#L1-L2)` —
 * names a symbol (the link text in backticks, or the link's title when the text is prose:
 * `[the ack path](../src/core/connection.ts#L1-L2 "ConnectionCore.onAck")`), and `npm run docs`
 * rewrites the anchor to the line range of that symbol as the TypeScript compiler finds it today.
 *
 * A symbol is a dotted path: a top-level declaration (function, class, interface, type, const,
 * enum), then, step by step, the nearest named thing inside it with the next name — a class member,
 * an interface or object-literal property, a nested function. `connectionMachine.sendSyn` finds the
 * `sendSyn` action inside the object handed to XState's `setup`. The range starts at the symbol's
 * doc comment, when it has one. A symbol that cannot be found fails the docs script (and so the
 * staleness test): a renamed method breaks the build of the docs, not the reader's trust.
 */
import { readFileSync } from 'node:fs';
import { dirname, posix, relative, resolve } from 'node:path';
import ts from 'typescript';

export interface LineRange {
  start: number;
  end: number;
}

export class CodeLinkError extends Error {}

const parsed = new Map<string, ts.SourceFile>();

function sourceFile(path: string): ts.SourceFile {
  let sf = parsed.get(path);
  if (sf === undefined) {
    sf = ts.createSourceFile(path, readFileSync(path, 'utf8'), ts.ScriptTarget.Latest, true);
    parsed.set(path, sf);
  }
  return sf;
}

/** Forget parsed files (the test regenerates after the code may have changed). */
export function resetCodeLinks(): void {
  parsed.clear();
}

function nameOf(node: ts.Node): string | undefined {
  const n = (node as { name?: ts.Node }).name;
  if (n === undefined) return ts.isConstructorDeclaration(node) ? 'constructor' : undefined;
  if (ts.isIdentifier(n) || ts.isStringLiteral(n) || ts.isPrivateIdentifier(n) || ts.isNumericLiteral(n)) {
    return n.text;
  }
  return undefined;
}

/** Declarations that can carry a name in a path. */
function isNamed(node: ts.Node): boolean {
  return (
    ts.isFunctionDeclaration(node) ||
    ts.isClassDeclaration(node) ||
    ts.isInterfaceDeclaration(node) ||
    ts.isTypeAliasDeclaration(node) ||
    ts.isEnumDeclaration(node) ||
    ts.isVariableDeclaration(node) ||
    ts.isMethodDeclaration(node) ||
    ts.isPropertyDeclaration(node) ||
    ts.isGetAccessorDeclaration(node) ||
    ts.isSetAccessorDeclaration(node) ||
    ts.isConstructorDeclaration(node) ||
    ts.isPropertyAssignment(node) ||
    ts.isShorthandPropertyAssignment(node) ||
    ts.isPropertySignature(node) ||
    ts.isMethodSignature(node) ||
    ts.isEnumMember(node)
  );
}

/** The nearest descendants of `root` named `name`, breadth first; the first one found wins. */
function findInside(root: ts.Node, name: string): ts.Node | undefined {
  let level: ts.Node[] = [root];
  while (level.length > 0) {
    const next: ts.Node[] = [];
    for (const node of level) {
      for (const child of node.getChildren()) {
        if (child !== root && isNamed(child) && nameOf(child) === name) return child;
        next.push(child);
      }
    }
    level = next;
  }
  return undefined;
}

/** A getter and its setter are one symbol: the range covers both when they are adjacent. */
function span(sf: ts.SourceFile, node: ts.Node): LineRange {
  // A `const x = …` range covers its whole statement (with the doc comment above it).
  let target = node;
  if (ts.isVariableDeclaration(node) && ts.isVariableDeclarationList(node.parent)) target = node.parent.parent;
  let end = target.getEnd();
  if (ts.isGetAccessorDeclaration(target)) {
    const siblings = target.parent
      .getChildren()
      .flatMap((c) => (c.kind === ts.SyntaxKind.SyntaxList ? c.getChildren() : [c]));
    const i = siblings.indexOf(target);
    const after = siblings[i + 1];
    if (after && ts.isSetAccessorDeclaration(after) && nameOf(after) === nameOf(target)) end = after.getEnd();
  }
  const start = target.getStart(sf, true);
  return {
    start: sf.getLineAndCharacterOfPosition(start).line + 1,
    end: sf.getLineAndCharacterOfPosition(end).line + 1,
  };
}

/** The line range of `symbol` (a dotted path) in the TypeScript file at `path`. */
export function symbolRange(path: string, symbol: string): LineRange {
  const sf = sourceFile(path);
  const [first, ...rest] = symbol.split('.');
  let node: ts.Node | undefined;
  for (const stmt of sf.statements) {
    if (ts.isVariableStatement(stmt)) {
      node = stmt.declarationList.declarations.find((d) => nameOf(d) === first);
    } else if (isNamed(stmt) && nameOf(stmt) === first) node = stmt;
    if (node !== undefined) break;
  }
  if (node === undefined) throw new CodeLinkError(`${symbol}: no top-level ${first} in ${path}`);
  for (const name of rest) {
    const inner = findInside(node, name);
    if (inner === undefined) throw new CodeLinkError(`${symbol}: nothing named ${name} inside ${first} in ${path}`);
    node = inner;
  }
  return span(sf, node);
}

/** `#L12-L30` (or `#L12` for one line). */
export function anchor(r: LineRange): string {
  return r.start === r.end ? `#L${r.start}` : `#L${r.start}-L${r.end}`;
}

/** A link target from the Markdown file at `fromFile` to `symbol` in `codeFile` (both relative to `root`). */
export function codeHref(root: string, fromFile: string, codeFile: string, symbol: string): string {
  const r = symbolRange(resolve(root, codeFile), symbol);
  const rel = relative(dirname(resolve(root, fromFile)), resolve(root, codeFile))
    .split('\\')
    .join('/');
  return `${rel}${anchor(r)}`;
}

/** A Markdown link to a symbol: [`Name`](path#Lx-Ly). */
export function codeLink(root: string, fromFile: string, codeFile: string, symbol: string, text?: string): string {
  const label = text ?? `\`${symbol}\``;
  // Prose (or a short name) as the text: the symbol goes in the title, so refreshCodeLinks finds it again.
  const title = label === `\`${symbol}\`` ? '' : ` "${symbol}"`;
  return `[${label}](${codeHref(root, fromFile, codeFile, symbol)}${title})`;
}

// [text](path.ts#L1-L2) or [text](path.ts#L1-L2 "Symbol.path") — path relative to the Markdown file.
const LINK = /\[((?:[^[\]]|\[[^\]]*\])*)\]\(([^()\s]+?\.ts)#L\d+(?:-L\d+)?(?:\s+"([^"]+)")?\)/g;

/**
 * Rewrites every code link's line anchor in `markdown` (the file at `mdPath`, relative to `root`).
 * Throws a CodeLinkError listing the links whose symbol is not found.
 */
export function refreshCodeLinks(root: string, mdPath: string, markdown: string): string {
  const errors: string[] = [];
  const out = markdown.replace(LINK, (whole, text: string, target: string, title: string | undefined) => {
    const symbol = title ?? /^`([^`]+)`$/.exec(text.trim())?.[1];
    if (symbol === undefined) {
      errors.push(`${mdPath}: ${whole}: name the symbol (the link text in backticks, or a "title")`);
      return whole;
    }
    const file = posix.normalize(posix.join(posix.dirname(mdPath), target));
    try {
      const r = symbolRange(resolve(root, file), symbol.replace(/\(\)$/, ''));
      return `[${text}](${target}${anchor(r)}${title ? ` "${title}"` : ''})`;
    } catch (e) {
      errors.push(`${mdPath}: ${(e as Error).message}`);
      return whole;
    }
  });
  if (errors.length > 0) throw new CodeLinkError(errors.join('\n'));
  return out;
}
