'use strict';
// VS Code client for `neurodebug lsp`: starts the server, forwards commands, and shows the
// session the server sends in `neurodebug/trace` (current lines as decorations, a status item).
// It also contributes the `neurodebug` debugger type, whose adapter is `neurodebug dap`.

const vscode = require('vscode');
const { LanguageClient } = require('vscode-languageclient/node');
const core = require('./lib/core');

let client;
let status;
let predictedLine;
let realLine;
const views = new Map(); // uri -> what the last neurodebug/trace said

// The extension's settings: the client's own (pythonPath), the server's own (realRuns) and one per
// session option (core.OPTION_SETTINGS, package.json's neurodebug.* settings).
function settings() {
  const c = vscode.workspace.getConfiguration('neurodebug');
  const out = { pythonPath: c.get('pythonPath'), realRuns: c.get('realRuns') };
  for (const key of core.OPTION_SETTINGS) out[key] = c.get(key);
  return out;
}

async function pythonFromPythonExtension() {
  const ext = vscode.extensions.getExtension('ms-python.python');
  if (!ext) return undefined;
  try {
    const api = ext.isActive ? ext.exports : await ext.activate();
    const details = api.settings.getExecutionDetails(vscode.window.activeTextEditor?.document.uri);
    return details?.execCommand?.[0];
  } catch (e) {
    return undefined;
  }
}

function execute(command, args) {
  return client.sendRequest('workspace/executeCommand', { command, arguments: args });
}

async function run(command, args) {
  try {
    return await execute(command, args);
  } catch (e) {
    vscode.window.showErrorMessage(`neurodebug: ${e.message}`);
    return undefined;
  }
}

async function startHere(compare) {
  const editor = vscode.window.activeTextEditor;
  if (!editor) return;
  const text = editor.document.getText();
  const name = core.functionAt(text, editor.selection.active.line);
  if (!name) {
    vscode.window.showInformationMessage('neurodebug: put the cursor inside a module-level function.');
    return;
  }
  const input = await vscode.window.showInputBox({
    title: `${compare ? 'Compare' : 'Predict'} ${name}`,
    prompt: 'The call to trace, e.g. f(1, 2) (empty: let the model propose arguments)',
    value: core.callComment(text, name) || `${name}()`,
  });
  const call = core.callOrNull(input);
  if (call === undefined) return;
  await run(compare ? 'neurodebug.compare' : 'neurodebug.predict', [editor.document.uri.toString(), name, call]);
}

async function step(command) {
  const editor = vscode.window.activeTextEditor;
  if (!editor) return;
  const args = core.stepArguments(command, editor.document.uri.toString(), editor.selection.active.line);
  await run('neurodebug.step', args);
}

async function editLocal() {
  const editor = vscode.window.activeTextEditor;
  if (!editor) return;
  const range = editor.document.getWordRangeAtPosition(editor.selection.active);
  const name = await vscode.window.showInputBox({ prompt: 'Variable to set', value: range ? editor.document.getText(range) : '' });
  if (!name) return;
  const value = await vscode.window.showInputBox({ prompt: `New value of ${name} (a Python repr, e.g. [1, 2])` });
  if (value === undefined) return;
  await run('neurodebug.setLocal', [editor.document.uri.toString(), name, value]);
}

// "Debug predicted execution" (a code lens the server makes): a `neurodebug` debug session.
async function debugFunction(uri, entry, call) {
  const target = vscode.Uri.parse(uri);
  const config = core.lensConfiguration(target.fsPath, entry, call);
  await vscode.debug.startDebugging(vscode.workspace.getWorkspaceFolder(target), config);
}

// The debug toolbar's "Continue from the real run": the adapter's custom request (DAP has none).
async function debugTakeReal() {
  const session = vscode.debug.activeDebugSession;
  if (!session || session.type !== 'neurodebug') return;
  try {
    await session.customRequest(core.TAKE_REAL_REQUEST);
  } catch (e) {
    vscode.window.showErrorMessage(`neurodebug: ${e.message || e}`);
  }
}

// F5 without a launch.json, and unset option attributes: see core.resolveConfiguration.
const configurationProvider = {
  resolveDebugConfiguration(folder, config) {
    const file = vscode.window.activeTextEditor?.document.uri;
    const result = core.resolveConfiguration(config, settings(), file && file.scheme === 'file' ? file.fsPath : undefined);
    if (result.error) {
      vscode.window.showErrorMessage(`neurodebug: ${result.error}`);
      return undefined; // do not start
    }
    return result.config;
  },
};

// Starts `python -P -m neurodebug dap` over stdio for each debug session, in the workspace folder.
const adapterFactory = {
  async createDebugAdapterDescriptor(session) {
    const { command, args } = core.adapterCommand(settings(), await pythonFromPythonExtension());
    const cwd = session.workspaceFolder?.uri.fsPath;
    return new vscode.DebugAdapterExecutable(command, args, cwd ? { cwd } : {});
  },
};

function render() {
  const editor = vscode.window.activeTextEditor;
  const view = editor && views.get(editor.document.uri.toString());
  vscode.commands.executeCommand('setContext', 'neurodebug.active', Boolean(view && view.active));
  if (!editor) return;
  const line = (n) => (n === null ? [] : [editor.document.lineAt(Math.min(n, editor.document.lineCount - 1)).range]);
  editor.setDecorations(predictedLine, view ? line(view.predictedLine) : []);
  editor.setDecorations(realLine, view && view.realLine !== view.predictedLine ? line(view.realLine) : []);
  status.text = view ? `$(debug-alt) ${view.status}` : '$(debug-alt) neurodebug';
  status.tooltip = view ? view.tooltip : 'neurodebug: no prediction for this file';
  status.show();
}

async function activate(context) {
  const s = settings();
  const server = core.serverCommand(s, await pythonFromPythonExtension());
  client = new LanguageClient('neurodebug', 'neurodebug', server, {
    documentSelector: [{ scheme: 'file', language: 'python' }, { scheme: 'untitled', language: 'python' }],
    initializationOptions: core.initializationOptions(s),
    synchronize: { configurationSection: 'neurodebug' },
  });

  predictedLine = vscode.window.createTextEditorDecorationType({
    backgroundColor: new vscode.ThemeColor('neurodebug.predictedLineBackground'), isWholeLine: true,
    after: { contentText: '  ◀ predicted', color: new vscode.ThemeColor('editorCodeLens.foreground') },
  });
  realLine = vscode.window.createTextEditorDecorationType({
    backgroundColor: new vscode.ThemeColor('neurodebug.realLineBackground'), isWholeLine: true,
    after: { contentText: '  ◀ real', color: new vscode.ThemeColor('editorCodeLens.foreground') },
  });
  status = vscode.window.createStatusBarItem(vscode.StatusBarAlignment.Left, 50);
  status.command = 'neurodebug.stepInto';
  context.subscriptions.push(predictedLine, realLine, status);

  const commands = {
    'neurodebug.predictHere': () => startHere(false),
    'neurodebug.compareHere': () => startHere(true),
    'neurodebug.editLocal': editLocal,
    'neurodebug.debug': debugFunction,
    'neurodebug.debugTakeReal': debugTakeReal,
  };
  for (const id of [...Object.keys(core.ACTIONS), 'neurodebug.runToCursor']) commands[id] = () => step(id);
  for (const [id, fn] of Object.entries(commands)) context.subscriptions.push(vscode.commands.registerCommand(id, fn));
  context.subscriptions.push(vscode.window.onDidChangeActiveTextEditor(render));
  // The debugger first: it must work even when the language server cannot start.
  context.subscriptions.push(
    vscode.debug.registerDebugAdapterDescriptorFactory('neurodebug', adapterFactory),
    vscode.debug.registerDebugConfigurationProvider('neurodebug', configurationProvider));

  await client.start();
  context.subscriptions.push(client.onNotification('neurodebug/trace', (params) => {
    views.set(params.uri, core.traceView(params));
    render();
  }));
  render();
}

function deactivate() {
  return client ? client.stop() : undefined;
}

module.exports = { activate, deactivate };
