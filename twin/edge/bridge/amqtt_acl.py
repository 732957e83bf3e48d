"""The topic ACL plug-in of the in-process amqtt broker: Mosquitto's ``topic read`` / ``topic write`` rules.

amqtt calls :meth:`TopicAclPlugin.topic_filtering` for every SUBSCRIBE (the filter asked for),
PUBLISH and RECEIVE (the topic of each message about to be delivered). A client may publish to a
topic only when one of its ``write`` filters matches it, and may subscribe to a filter or receive a
message only when one of its ``read`` filters covers it, exactly as in the Mosquitto ACL file made
from the same :class:`~twin.edge.bridge.brokers.TopicAcl`. A client without a username, or a user
the ACL does not name, may do nothing. The broker configuration names this class by its dotted
path (``twin.edge.bridge.amqtt_acl.TopicAclPlugin``) with the ACL rendered by
:meth:`~twin.edge.bridge.brokers.TopicAcl.amqtt`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from amqtt.contexts import Action
from amqtt.plugins.base import BaseTopicPlugin
from amqtt.plugins.topic_checking import TopicAccessControlListPlugin
from amqtt.session import Session


class TopicAclPlugin(BaseTopicPlugin):
    """amqtt topic check: per user, the filters it may read (subscribe, receive) and write (publish)."""

    @dataclass
    class Config:
        """user → topic filters, as :meth:`twin.edge.bridge.brokers.TopicAcl.amqtt` renders them."""

        read: dict[str, list[str]] = field(default_factory=dict)
        write: dict[str, list[str]] = field(default_factory=dict)

    async def topic_filtering(self, *, session: Session | None = None, topic: str | None = None,
                              action: Action | None = None) -> bool:
        """True when the session's user may do ``action`` on ``topic`` (a filter for SUBSCRIBE)."""
        user = session.username if session is not None else None
        if not user or not topic or action is None:
            return False
        config: TopicAclPlugin.Config = self.context.config  # type: ignore[assignment]
        grants = config.write if action == Action.PUBLISH else config.read
        return any(TopicAccessControlListPlugin.topic_ac(topic, allowed) for allowed in grants.get(user, []))
