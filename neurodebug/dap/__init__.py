"""`neurodebug dap`: a Debug Adapter Protocol server over the predicted execution (docs/dap.md).

protocol (the wire, on dap_types' models), launch (the launch.json attributes, the Session they
open), views (a snapshot of the session: stack, lines that run, summary), panes (scopes,
variables, evaluate), variables (reprs, their children, lookups that run no code), adapter (the
requests), server (stdio and TCP).
"""
