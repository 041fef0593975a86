'use strict';
// The parts of the extension that do not need the editor: tested with `node --test`.

const ACTIONS = {
  'neurodebug.stepInto': 'step',
  'neurodebug.stepOver': 'next',
  'neurodebug.stepOut': 'out',
  'neurodebug.stepBack': 'back',
  'neurodebug.continue': 'continue',
  'neurodebug.reset': 'reset',
  'neurodebug.takeReal': 'take_real',
};

// The debug adapter's custom request behind the toolbar's "Continue from the real run".
const TAKE_REAL_REQUEST = 'neurodebug/takeReal';

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

// The interpreter that runs neurodebug: the setting, else the Python extension's, else python3.
function python(settings, fallbackPython) {
  return (settings.pythonPath || '').trim() || fallbackPython || 'python3';
}

// `python -P -m neurodebug SUBCOMMAND`: -P keeps the current folder (the workspace) off sys.path,
// so a workspace file named like a module neurodebug imports is never imported instead.
function neurodebugCommand(subcommand, settings, fallbackPython) {
  return { command: python(settings, fallbackPython), args: ['-P', '-m', 'neurodebug', subcommand] };
}

// How to start the language server: `neurodebug lsp` over stdio.
function serverCommand(settings, fallbackPython) {
  return neurodebugCommand('lsp', settings, fallbackPython);
}

// How to start the debug adapter: `neurodebug dap` over stdio.
function adapterCommand(settings, fallbackPython) {
  return neurodebugCommand('dap', settings, fallbackPython);
}

// The settings that are session options (neurodebug/options.py, SessionOptions: every option but
// `compare`, which Predict and Compare choose per command), by their camelCase names. The language
// server reads them under these names, and each is also the launch attribute of the same name.
// tests/lsp/test_extension_options.py checks this list against SessionOptions and package.json.
const OPTION_SETTINGS = Object.freeze([
  'model', 'backend', 'url', 'servedModelName', 'timeout', 'device', 'dtype', 'quantize', 'lookahead',
  'constrain', 'constrainLocals', 'constrainFlow', 'beam', 'temperature', 'topP', 'seed', 'maxFrames',
  'maxFrameTokens', 'unsureBelow', 'stepOver',
  'isolation', 'wallSeconds', 'cpuSeconds', 'memoryMb',
]);

// A setting left at its "no value" default ("" for a string option, null for a number) or unset.
function empty(value) {
  return value === undefined || value === null || value === '';
}

// What the server reads at initialize (lsp/settings.py): every option setting that has a value,
// and realRuns. `debugLens`: this client runs `neurodebug.debug`, so the server adds the "Debug
// predicted execution" lens.
function initializationOptions(settings) {
  const out = { debugLens: true };
  for (const key of [...OPTION_SETTINGS, 'realRuns']) {
    if (!empty(settings[key])) out[key] = settings[key];
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

// The launch configuration of the "Debug predicted execution" lens: `program` is the file's path,
// `entry` the function, `call` the call found in the source (none: the adapter's own default).
function lensConfiguration(program, entry, call) {
  const config = { type: 'neurodebug', request: 'launch', name: `Debug ${entry}`, program, entry };
  if (call !== null && call !== undefined) config.call = call;
  return config;
}

// A launch configuration made complete before the session starts: F5 without a launch.json
// (an empty configuration) debugs the active Python file; each option attribute left unset (or
// null, or "") takes the extension's setting of the same name. Returns {config} or {error: one sentence}.
function resolveConfiguration(config, settings, activeFile) {
  let out = { ...config };
  if (!out.type && !out.request && !out.name) {
    if (!activeFile || !activeFile.endsWith('.py')) {
      return { error: 'Open a Python file to debug its predicted execution, or add a neurodebug launch configuration.' };
    }
    out = { type: 'neurodebug', request: 'launch', name: 'Debug predicted execution', program: activeFile, ...out };
  }
  if (out.request !== 'launch') return { error: `neurodebug debug sessions are launched (request "launch"), not "${out.request}".` };
  if (!out.program) return { error: 'The launch configuration needs "program", the Python file to debug.' };
  for (const key of OPTION_SETTINGS) {
    if (empty(out[key]) && !empty(settings[key])) out[key] = settings[key];
  }
  return { config: out };
}

module.exports = {
  traceView, ACTIONS, TAKE_REAL_REQUEST, OPTION_SETTINGS, functionAt, callComment, serverCommand, adapterCommand, initializationOptions, stepArguments,
  callOrNull, lensConfiguration, resolveConfiguration };
