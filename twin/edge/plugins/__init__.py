"""Plug-in points for outside edge analytics: bring your own detector, diagnoser or control policy.

:mod:`~twin.edge.plugins.protocols` defines the protocols (with worked examples),
:mod:`~twin.edge.plugins.registry` finds implementations by entry point or ``module:attr``,
:mod:`~twin.edge.plugins.guard` keeps a failing plug-in from taking the runner down, and
:mod:`~twin.edge.plugins.choice` is the scenario's ``plugins`` section. Edge code: never imports a
plant model or the truth.
"""

from twin.edge.plugins.choice import PluginChoice, PluginChoices
from twin.edge.plugins.guard import PluginError
from twin.edge.plugins.protocols import (
           ControlPolicy,
           ControlView,
           Detector,
           Diagnoser,
           PluginContext,
           Proposal,
           VerifyRequest,
)

__all__ = ["ControlPolicy", "ControlView", "Detector", "Diagnoser", "PluginChoice", "PluginChoices", "PluginContext",
           "PluginError", "Proposal", "VerifyRequest"]
