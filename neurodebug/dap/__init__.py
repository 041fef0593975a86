"""`neurodebug dap`: a Debug Adapter Protocol server over the predicted execution (docs/dap.md).

protocol (the wire, on dap_types' models), launch (the launch.json attributes, the Session they
open), views (stack, breakpoints and summary of a session snapshot), variables (reprs, their
children, lookups that run no code), adapter (the requests), server (stdio and TCP).
"""
