'use strict';
// Unit tests of the extension's editor-free parts: `node --test test/`.
const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const core = require('../lib/core');

const SOURCE = [
  'import math',            // 0
  '',                        // 1
  '# neurodebug: count(\'berry\', \'r\')', // 2
  '@decorator',              // 3
  'def count(s, ch):',       // 4
  '    n = 0',               // 5
  '',                        // 6
  '    for c in s:',         // 7
  '        n += 1',          // 8
  '    return n',            // 9
  '',                        // 10
  'x = count("a", "a")',     // 11
  'async def later():',      // 12
  '    return 1',            // 13
].join('\n');

test('functionAt finds the module-level function around the cursor', () => {
  assert.equal(core.functionAt(SOURCE, 4), 'count');
  assert.equal(core.functionAt(SOURCE, 8), 'count');
  assert.equal(core.functionAt(SOURCE, 6), 'count'); // a blank line inside the body
  assert.equal(core.functionAt(SOURCE, 13), 'later');
  assert.equal(core.functionAt(SOURCE, 11), null); // module-level code
  assert.equal(core.functionAt(SOURCE, 0), null);
  assert.equal(core.functionAt(SOURCE, 99), 'later'); // past the end: the last line
});

test('callComment reads the call above the def, through decorators', () => {
  assert.equal(core.callComment(SOURCE, 'count'), "count('berry', 'r')");
  assert.equal(core.callComment(SOURCE, 'later'), null);
  assert.equal(core.callComment(SOURCE, 'missing'), null);
});

test('serverCommand runs `neurodebug lsp` with the configured interpreter, the workspace off sys.path', () => {
  assert.deepEqual(core.serverCommand({ pythonPath: '/venv/bin/python' }, '/usr/bin/python3'),
    { command: '/venv/bin/python', args: ['-P', '-m', 'neurodebug', 'lsp'] });
  assert.equal(core.serverCommand({ pythonPath: '  ' }, '/usr/bin/python3').command, '/usr/bin/python3');
  assert.equal(core.serverCommand({}, undefined).command, 'python3');
});

test('adapterCommand runs `neurodebug dap` with the same interpreter', () => {
  assert.deepEqual(core.adapterCommand({ pythonPath: '/venv/bin/python' }, '/usr/bin/python3'),
    { command: '/venv/bin/python', args: ['-P', '-m', 'neurodebug', 'dap'] });
  assert.deepEqual(core.adapterCommand({}, '/usr/bin/python3'),
    { command: '/usr/bin/python3', args: ['-P', '-m', 'neurodebug', 'dap'] });
});

test('initializationOptions sends every option setting that has a value, realRuns, and asks for the debug lens', () => {
  const settings = { pythonPath: '/venv/bin/python', model: '', backend: 'http', url: 'http://127.0.0.1:5678', device: 'cpu',
    servedModelName: null, seed: null, maxFrames: 50, topP: 0.9, constrain: false, temperature: 0, realRuns: false,
    isolation: 'bwrap', bogus: 1 };
  assert.deepEqual(core.initializationOptions(settings),
    { debugLens: true, backend: 'http', url: 'http://127.0.0.1:5678', device: 'cpu', maxFrames: 50, topP: 0.9,
      constrain: false, temperature: 0, realRuns: false, isolation: 'bwrap' });
  // every option setting goes by its own (camelCase) name: the server reads the same names
  const all = Object.fromEntries(core.OPTION_SETTINGS.map((key, i) => [key, i]));
  assert.deepEqual(core.initializationOptions(all), { debugLens: true, ...all });
  assert.ok(core.OPTION_SETTINGS.includes('url') && !core.OPTION_SETTINGS.includes('serverUrl'));
  assert.ok(!core.OPTION_SETTINGS.includes('compare')); // Predict and Compare choose it per command
});

test('lensConfiguration launches the lens\'s function with the call found in the source', () => {
  assert.deepEqual(core.lensConfiguration('/w/count.py', 'count', "count('berry', 'r')"),
    { type: 'neurodebug', request: 'launch', name: 'Debug count', program: '/w/count.py', entry: 'count',
      call: "count('berry', 'r')" });
  assert.equal('call' in core.lensConfiguration('/w/sq.py', 'square', null), false); // the adapter decides
});

test('resolveConfiguration: F5 without launch.json debugs the active file; settings fill unset options', () => {
  const settings = { pythonPath: '/venv/bin/python', realRuns: false, model: '/models/cwm', backend: 'local', url: '',
    device: 'cpu', maxFrames: 200, seed: null, constrain: true, topP: 0.5 };
  const filled = { model: '/models/cwm', backend: 'local', device: 'cpu', maxFrames: 200, constrain: true, topP: 0.5 };
  assert.deepEqual(core.resolveConfiguration({}, settings, '/w/a.py').config,
    { type: 'neurodebug', request: 'launch', name: 'Debug predicted execution', program: '/w/a.py', ...filled });
  const given = { type: 'neurodebug', request: 'launch', name: 'x', program: '/w/b.py', backend: 'http',
    url: 'http://127.0.0.1:8000', maxFrames: 30, constrain: false, compare: false };
  assert.deepEqual(core.resolveConfiguration(given, settings, '/w/a.py').config,
    { ...given, model: '/models/cwm', device: 'cpu', topP: 0.5 });
  // an attribute given as "" or null is unset too; 0 and false are values
  assert.deepEqual(core.resolveConfiguration({ ...given, model: '', device: null, maxFrames: 0 }, settings).config,
    { ...given, model: '/models/cwm', device: 'cpu', maxFrames: 0, topP: 0.5 });
  // every option setting fills the launch attribute of the same name
  const all = Object.fromEntries(core.OPTION_SETTINGS.map((key, i) => [key, `v${i}`]));
  const base = { type: 'neurodebug', request: 'launch', name: 'x', program: '/w/b.py' };
  assert.deepEqual(core.resolveConfiguration(base, { ...all, pythonPath: 'p', realRuns: true }).config, { ...base, ...all });
  assert.match(core.resolveConfiguration({}, settings, '/w/notes.txt').error, /Open a Python file/);
  assert.match(core.resolveConfiguration({}, settings, undefined).error, /Open a Python file/);
  assert.match(core.resolveConfiguration({ type: 'neurodebug', request: 'attach', name: 'x' }, settings).error, /launched/);
  assert.match(core.resolveConfiguration({ type: 'neurodebug', request: 'launch', name: 'x' }, settings).error, /"program"/);
});

test('package.json: the neurodebug debugger\'s launch attributes, initial configuration and snippets', () => {
  const manifest = JSON.parse(fs.readFileSync(path.join(__dirname, '..', 'package.json'), 'utf8'));
  const [debuggerType] = manifest.contributes.debuggers;
  assert.equal(debuggerType.type, 'neurodebug');
  // one attribute per option (tests/lsp/test_extension_options.py checks them against SessionOptions)
  const attributes = Object.keys(debuggerType.configurationAttributes.launch.properties);
  assert.deepEqual([...attributes].sort(),
    ['program', 'entry', 'call', 'stopOnEntry', 'compare', ...core.OPTION_SETTINGS].sort());
  // one setting per option the language server offers, plus the client's pythonPath and the server's realRuns
  const settings = Object.keys(manifest.contributes.configuration.properties);
  assert.deepEqual([...settings].sort(),
    ['pythonPath', 'realRuns', ...core.OPTION_SETTINGS].map((key) => `neurodebug.${key}`).sort());
  for (const config of [...debuggerType.initialConfigurations, ...debuggerType.configurationSnippets.map((s) => s.body)]) {
    assert.equal(config.type, 'neurodebug');
    assert.equal(config.request, 'launch');
    for (const key of Object.keys(config)) assert.ok(['type', 'request', 'name', ...attributes].includes(key), key);
  }
  assert.ok(manifest.activationEvents.includes('onDebugResolve:neurodebug'));
});

test('step commands map to the server actions; run to cursor is 1-based', () => {
  assert.deepEqual(core.stepArguments('neurodebug.stepOver', 'file:///a.py', 3), ['file:///a.py', 'next']);
  assert.deepEqual(core.stepArguments('neurodebug.stepBack', 'u', 0), ['u', 'back']);
  assert.deepEqual(core.stepArguments('neurodebug.runToCursor', 'u', 11), ['u', 'run_to:12']);
  assert.throws(() => core.stepArguments('neurodebug.fly', 'u', 0));
  const actions = new Set(Object.values(core.ACTIONS));
  for (const a of ['step', 'next', 'out', 'back', 'continue', 'reset', 'take_real']) assert.ok(actions.has(a), a);
});

test('callOrNull: dismissed box, empty answer (the model proposes), a call', () => {
  assert.equal(core.callOrNull(undefined), undefined);
  assert.equal(core.callOrNull('   '), null);
  assert.equal(core.callOrNull(" f('x') "), "f('x')");
});

test('traceView reads a real Session.to_json() notification', () => {
  const file = process.env.NEURODEBUG_TRACE_JSON || path.join(__dirname, 'fixtures', 'trace.json');
  const params = JSON.parse(fs.readFileSync(file, 'utf8'));
  const view = core.traceView(params);
  const s = params.session;
  assert.equal(view.active, true);
  assert.equal(view.predictedLine, s.frames[s.index].line - 1);
  assert.equal(view.realLine, s.real.frames[s.aligned_real[s.index]].line - 1);
  assert.match(view.status, new RegExp(`^step ${s.index + 1}/${s.frames.length}`));
  assert.match(view.status, new RegExp(`diverges at step ${s.divergence.step}`));
  assert.ok(view.tooltip.includes(s.divergence.message));
});

test('traceView of a dropped session (the file was edited) is inactive', () => {
  const view = core.traceView({ uri: 'file:///a.py', version: null, session: null });
  assert.deepEqual([view.active, view.predictedLine, view.realLine], [false, null, null]);
});
