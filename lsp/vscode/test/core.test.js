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

test('serverCommand runs `neurodebug lsp` with the configured interpreter', () => {
  assert.deepEqual(core.serverCommand({ pythonPath: '/venv/bin/python' }, '/usr/bin/python3'),
    { command: '/venv/bin/python', args: ['-m', 'neurodebug', 'lsp'] });
  assert.equal(core.serverCommand({ pythonPath: '  ' }, '/usr/bin/python3').command, '/usr/bin/python3');
  assert.equal(core.serverCommand({}, undefined).command, 'python3');
});

test('initializationOptions names what lsp/settings.py reads and drops empty values', () => {
  assert.deepEqual(
    core.initializationOptions({ model: '', backend: 'http', serverUrl: 'http://127.0.0.1:5678', device: 'cpu', maxFrames: 50 }),
    { backend: 'http', url: 'http://127.0.0.1:5678', device: 'cpu', maxFrames: 50 });
});

test('step commands map to the server actions; run to cursor is 1-based', () => {
  assert.deepEqual(core.stepArguments('neurodebug.stepOver', 'file:///a.py', 3), ['file:///a.py', 'next']);
  assert.deepEqual(core.stepArguments('neurodebug.stepBack', 'u', 0), ['u', 'back']);
  assert.deepEqual(core.stepArguments('neurodebug.runToCursor', 'u', 11), ['u', 'run_to:12']);
  assert.throws(() => core.stepArguments('neurodebug.fly', 'u', 0));
  const actions = new Set(Object.values(core.ACTIONS));
  for (const a of ['step', 'next', 'out', 'back', 'continue', 'reset']) assert.ok(actions.has(a), a);
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
