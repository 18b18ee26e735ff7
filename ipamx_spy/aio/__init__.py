"""The one layer that owns asyncio: listening sockets, the relay loop, the control socket.

Everything here moves bytes and waits; every decision is made by sans-IO code
(``ipamx_spy.tap``, ``ipamx_spy.proxy``, ``ipamx_spy.app``).
"""
