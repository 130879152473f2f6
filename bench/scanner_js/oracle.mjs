// The JS/TS scanner's oracle: TypeScript's own parser, with the mapping documented in
// src/workspace/scan/js.rs. Reads file paths (one a line) on stdin; writes one JSON line per file:
// {"path", "symbols": [[kind, name, line, container|null], ...]}, or {"path", "error"}.
// Run by benches/scanner_js_accuracy.rs; `npm ci` in this folder installs TypeScript.
import { readFileSync } from "node:fs";
import ts from "typescript";

const K = ts.SyntaxKind;

function scriptKind(path) {
  if (path.endsWith(".tsx")) return ts.ScriptKind.TSX;
  if (/\.[cm]?ts$/.test(path)) return ts.ScriptKind.TS;
  if (path.endsWith(".jsx")) return ts.ScriptKind.JSX;
  return ts.ScriptKind.JS;
}

function lineOf(sf, pos) {
  return sf.getLineAndCharacterOfPosition(pos).line + 1;
}

// The line of the node's first child token of one of `kinds` (its keyword).
function keywordLine(sf, node, kinds) {
  for (const child of node.getChildren(sf)) {
    if (kinds.includes(child.kind)) return lineOf(sf, child.getStart(sf));
  }
  return lineOf(sf, node.getStart(sf));
}

function hasDefault(node) {
  return (ts.getModifiers?.(node) ?? node.modifiers ?? []).some((m) => m.kind === K.DefaultKeyword);
}

function memberName(name) {
  if (!name) return null;
  switch (name.kind) {
    case K.Identifier:
    case K.PrivateIdentifier:
    case K.StringLiteral:
    case K.NumericLiteral:
    case K.NoSubstitutionTemplateLiteral:
      return name.text;
    default:
      return null; // computed
  }
}

function isFunctionValue(init) {
  return !!init && (init.kind === K.ArrowFunction || init.kind === K.FunctionExpression);
}

function symbolsOf(sf) {
  const out = [];
  for (const stmt of sf.statements) {
    switch (stmt.kind) {
      case K.FunctionDeclaration: {
        const name = stmt.name ? stmt.name.text : hasDefault(stmt) ? "default" : null;
        if (name) out.push(["function", name, keywordLine(sf, stmt, [K.FunctionKeyword]), null]);
        break;
      }
      case K.ClassDeclaration: {
        const name = stmt.name ? stmt.name.text : hasDefault(stmt) ? "default" : null;
        if (!name) break;
        out.push(["class", name, keywordLine(sf, stmt, [K.ClassKeyword]), null]);
        for (const m of stmt.members) {
          let method = null;
          if (m.kind === K.Constructor) {
            method = "constructor";
            const kw = m.getChildren(sf).find((c) => c.kind === K.ConstructorKeyword);
            out.push(["method", method, lineOf(sf, (kw ?? m).getStart(sf)), name]);
            continue;
          }
          if (m.kind === K.MethodDeclaration || m.kind === K.GetAccessor || m.kind === K.SetAccessor) {
            method = memberName(m.name);
          } else if (m.kind === K.PropertyDeclaration && isFunctionValue(m.initializer)) {
            method = memberName(m.name);
          }
          if (method !== null) out.push(["method", method, lineOf(sf, m.name.getStart(sf)), name]);
        }
        break;
      }
      case K.VariableStatement: {
        const list = stmt.declarationList;
        const isConst = (list.flags & ts.NodeFlags.Const) !== 0;
        list.declarations.forEach((d, index) => {
          if (d.name.kind !== K.Identifier) return;
          const kind = isFunctionValue(d.initializer) ? "function" : isConst ? "const" : null;
          if (!kind) return;
          const line = index === 0 ? lineOf(sf, list.getStart(sf)) : lineOf(sf, d.name.getStart(sf));
          out.push([kind, d.name.text, line, null]);
        });
        break;
      }
      case K.InterfaceDeclaration: {
        const name = stmt.name.text;
        out.push(["interface", name, keywordLine(sf, stmt, [K.InterfaceKeyword]), null]);
        for (const m of stmt.members) {
          if (m.kind === K.MethodSignature || m.kind === K.GetAccessor || m.kind === K.SetAccessor) {
            const method = memberName(m.name);
            if (method !== null) out.push(["method", method, lineOf(sf, m.name.getStart(sf)), name]);
          }
        }
        break;
      }
      case K.TypeAliasDeclaration:
        out.push(["type", stmt.name.text, keywordLine(sf, stmt, [K.TypeKeyword]), null]);
        break;
      case K.EnumDeclaration:
        out.push(["enum", stmt.name.text, keywordLine(sf, stmt, [K.EnumKeyword]), null]);
        break;
      case K.ModuleDeclaration: {
        if (stmt.flags & ts.NodeFlags.GlobalAugmentation) break;
        let name = stmt.name.text;
        let body = stmt.body;
        while (body && body.kind === K.ModuleDeclaration) {
          name += "." + body.name.text;
          body = body.body;
        }
        out.push(["module", name, keywordLine(sf, stmt, [K.NamespaceKeyword, K.ModuleKeyword]), null]);
        break;
      }
    }
  }
  return out;
}

const paths = readFileSync(0, "utf8").split("\n").filter(Boolean);
for (const path of paths) {
  try {
    const text = readFileSync(path, "utf8");
    const sf = ts.createSourceFile(path, text, ts.ScriptTarget.Latest, true, scriptKind(path));
    const error = sf.parseDiagnostics && sf.parseDiagnostics.length > 0;
    process.stdout.write(JSON.stringify(error ? { path, error: true } : { path, symbols: symbolsOf(sf) }) + "\n");
  } catch (e) {
    process.stdout.write(JSON.stringify({ path, error: String(e) }) + "\n");
  }
}
