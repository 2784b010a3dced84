"""Jupyter server configuration of every matfold user server (``--config`` of the spawner).

One fix of a library bug lives here, until jupyter-collaboration ships it: a user server
stopped before any document was opened collaboratively printed a ``RuntimeError:
WebsocketServer not running`` traceback (jupyter_server_ydoc's ``clean()`` stops a
WebSocket server that never started; it starts with the first shared document). A
server that never started has nothing to clean, so that case returns at once.
"""

try:
    from jupyter_server_ydoc.websocketserver import JupyterWebsocketServer
except ImportError:  # jupyter-collaboration not installed: nothing to fix
    JupyterWebsocketServer = None

if JupyterWebsocketServer is not None and not getattr(JupyterWebsocketServer, "_matfold_clean", False):
    _clean = JupyterWebsocketServer.clean

    async def clean(self):
        """Stop the rooms and the WebSocket server, if it ever started."""
        if getattr(self, "_task_group", None) is None and self.monitor_task is None:
            return
        await _clean(self)

    JupyterWebsocketServer.clean = clean
    JupyterWebsocketServer._matfold_clean = True
