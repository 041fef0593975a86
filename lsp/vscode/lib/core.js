'use strict';
// The parts of the extension that do not need the editor: tested with `node --test`.

const ACTIONS = {
  'neurodebug.stepInto': 'step',
  'neurodebug.stepOver': 'next',
  'neurodebug.stepOut': 'out',
  'neurodebug.stepBack': 'back',
  'neurodebug.continue': 'continue',
  'neurodebug.reset': 'reset',
};

const DEF = /^(?:async\s+)?def\s+([A-Za-z_][A-Za-z0-9_]*)\s*\(/;

// The module-level function whose body holds 0-based `line` of `text`, or null.
function functionAt(text, line) {
  const lines = text.split(/\r\n|\r|\n/);
  for (let i = Math.min(line, lines.length - 1); i >= 0; i--) {
    const t = lines[i];
    const m = DEF.exec(t);
    if (m) return m[1];
    const code = t.trim() !== '' && !t.trimStart().startsWith('#');
    // Module-level code (column 0, not a decorator) ends any function above it.
    if (code && !/^\s/.test(t) && !t.startsWith('@')) return null;
  }
  return null;
}

// The call written above a function as `# neurodebug: f(...)`, to prefill the input box.
function callComment(text, name) {
  const lines = text.split(/\r\n|\r|\n/);
  const at = lines.findIndex((t) => { const m = DEF.exec(t); return m && m[1] === name; });
  for (let i = at - 1; i >= 0; i--) {
    const t = lines[i].trim();
    if (!(t.startsWith('#') || t.startsWith('@'))) break;
    const m = /^#\s*neurodebug:\s*(.+?)\s*$/.exec(t);
    if (m) return m[1];
  }
  return null;
}

// How to start the server: the configured interpreter running `neurodebug lsp` over stdio.
function serverCommand(settings, fallbackPython) {
  const python = (settings.pythonPath || '').trim() || fallbackPython || 'python3';
  return { command: python, args: ['-m', 'neurodebug', 'lsp'] };
}

// What the server reads at initialize (lsp/settings.py): empty settings are left out.
function initializationOptions(settings) {
  const out = {};
  const pairs = [['model', settings.model], ['backend', settings.backend], ['url', settings.serverUrl],
    ['device', settings.device], ['maxFrames', settings.maxFrames]];
  for (const [key, value] of pairs) {
    if (value !== undefined && value !== null && value !== '') out[key] = value;
  }
  return out;
}

// The server's `neurodebug.step` arguments for an editor command (run to cursor: 0-based line).
function stepArguments(command, uri, line) {
  if (command === 'neurodebug.runToCursor') return [uri, `run_to:${line + 1}`];
  const action = ACTIONS[command];
  if (!action) throw new Error(`not a step command: ${command}`);
  return [uri, action];
}

// An empty answer from the input box means "let the model propose the arguments".
function callOrNull(input) {
  if (input === undefined) return undefined; // the user dismissed the box: do nothing
  const t = input.trim();
  return t === '' ? null : t;
}

// What the editor shows of a `neurodebug/trace` notification (Session.to_json() in `session`):
// 0-based predicted and real current lines, a status-bar text and its tooltip.
function traceView(params) {
  const session = params && params.session;
  if (!session) {
    return { uri: params && params.uri, active: false, predictedLine: null, realLine: null,
      status: 'neurodebug', tooltip: 'neurodebug: no prediction for this version of the file' };
  }
  const frames = session.frames || [];
  const index = typeof session.index === 'number' ? session.index : frames.length - 1;
  const current = index >= 0 ? frames[index] : undefined;
  const aligned = (session.aligned_real || [])[index];
  const realFrame = session.real && aligned !== null && aligned !== undefined ? session.real.frames[aligned] : undefined;
  const line = (f) => (f && typeof f.line === 'number' ? f.line - 1 : null);
  let status = `step ${index + 1}/${frames.length}`;
  if (session.ended) status += ' · ended';
  if (session.divergence) status += ` · diverges at step ${session.divergence.step}`;
  else if (session.real) status += ' · matches the real run';
  const call = `${session.entry}(${session.call === null || session.call === undefined ? '…' : session.call})`;
  const tooltip = [call, session.divergence && session.divergence.message, session.ended && session.end && session.end.message,
    session.real_note].filter(Boolean).join('\n');
  return { uri: params.uri, active: true, predictedLine: line(current), realLine: line(realFrame), status, tooltip };
}

module.exports = {
  traceView, ACTIONS, functionAt, callComment, serverCommand, initializationOptions, stepArguments, callOrNull };
