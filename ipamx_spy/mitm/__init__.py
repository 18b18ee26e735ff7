"""mitmproxy as a peer: flow files written without mitmproxy, and read back into recordings.

``tnetstring`` is the container, ``flowstate`` the layout of one flow (both ways), ``view`` what
the addon's contentview shows. Standard library only: ``ipamx_spy/mitm_addon.py`` imports this
package inside mitmproxy's own Python.
"""
