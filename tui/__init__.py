"""Dockyard terminal UI (Textual); talks to the controller over HTTP only. Comes later."""
