-- Drives neurodebug's language server from Neovim's own LSP client, headless.
-- Env: NEURODEBUG_NVIM_FILE (the Python file), NEURODEBUG_NVIM_CMD (server command, JSON list),
-- NEURODEBUG_NVIM_OUT (where the JSON results go). Works on Neovim 0.7 (Debian) and later.
local out = vim.env.NEURODEBUG_NVIM_OUT
local results = { nvim = tostring(vim.version().major) .. '.' .. tostring(vim.version().minor) }

local function finish(err)
  results.error = err
  vim.fn.writefile({ vim.fn.json_encode(results) }, out)
  vim.cmd('qa!')
end

local ok, err = pcall(function()
  local file = vim.env.NEURODEBUG_NVIM_FILE
  vim.cmd('edit ' .. vim.fn.fnameescape(file))
  local bufnr = vim.api.nvim_get_current_buf()
  local initialized = false
  local config = {
    name = 'neurodebug',
    cmd = vim.fn.json_decode(vim.env.NEURODEBUG_NVIM_CMD),
    root_dir = vim.fn.fnamemodify(file, ':h'),
    on_init = function() initialized = true end,
  }
  local id
  if vim.lsp.start ~= nil then -- Neovim >= 0.8
    id = vim.lsp.start(config, { bufnr = bufnr })
  else
    id = vim.lsp.start_client(config)
    vim.lsp.buf_attach_client(bufnr, id)
  end
  assert(vim.wait(30000, function() return initialized end, 20), 'the server did not initialize')
  local client = vim.lsp.get_client_by_id(id)
  local uri = vim.uri_from_bufnr(bufnr)

  local function request(method, params, timeout)
    local r, e = client.request_sync(method, params, timeout or 20000, bufnr)
    assert(r, method .. ': ' .. tostring(e))
    assert(r.err == nil, method .. ': ' .. vim.inspect(r.err))
    return r.result
  end

  results.lenses = request('textDocument/codeLens', { textDocument = { uri = uri } })
  results.compare = request('workspace/executeCommand',
    { command = 'neurodebug.compare', arguments = { uri, 'count', vim.NIL } }, 60000)
  local everything = { start = { line = 0, character = 0 }, ['end'] = { line = vim.api.nvim_buf_line_count(bufnr), character = 0 } }
  results.hints = request('textDocument/inlayHint', { textDocument = { uri = uri }, range = everything })
  vim.wait(5000, function() return #vim.diagnostic.get(bufnr) > 0 end, 20)
  results.diagnostics = vim.tbl_map(function(d)
    return { lnum = d.lnum, severity = d.severity, message = d.message }
  end, vim.diagnostic.get(bufnr))
  results.step = request('workspace/executeCommand', { command = 'neurodebug.step', arguments = { uri, 'reset' } })
  results.hints_after_reset = request('textDocument/inlayHint', { textDocument = { uri = uri }, range = everything })
end)
finish(not ok and tostring(err) or nil)
