"""The dashboard's websocket: an authenticated session subscribes to the groups of what it shows."""

import re

from channels.generic.websocket import AsyncJsonWebsocketConsumer

# One group per thing shown: site.<id>, rack.<id>, node.<id>, job.<id>.
GROUP_PATTERN = re.compile(r"^(site|rack|node|job)\.[0-9]{1,18}$")
MAX_GROUPS = 64


class LiveConsumer(AsyncJsonWebsocketConsumer):
    async def connect(self):
        user = self.scope.get("user")
        if user is None or not user.is_authenticated:
            await self.close(code=4401)
            return
        self.groups_joined: set[str] = set()
        await self.accept()

    async def disconnect(self, code):
        for group in getattr(self, "groups_joined", ()):
            await self.channel_layer.group_discard(group, self.channel_name)

    async def receive_json(self, content, **kwargs):
        if not isinstance(content, dict):
            await self.send_json({"type": "error", "detail": "Send a JSON object."})
            return
        wanted = content.get("subscribe", [])
        dropped = content.get("unsubscribe", [])
        if not isinstance(wanted, list) or not isinstance(dropped, list):
            await self.send_json({"type": "error", "detail": "subscribe/unsubscribe take a list of groups."})
            return
        bad = [g for g in wanted + dropped if not isinstance(g, str) or not GROUP_PATTERN.match(g)]
        if bad:
            await self.send_json({"type": "error", "detail": f"Unknown group names: {bad[:5]}"})
            return
        for group in dropped:
            if group in self.groups_joined:
                await self.channel_layer.group_discard(group, self.channel_name)
                self.groups_joined.discard(group)
        for group in wanted:
            if group not in self.groups_joined and len(self.groups_joined) < MAX_GROUPS:
                await self.channel_layer.group_add(group, self.channel_name)
                self.groups_joined.add(group)
        await self.send_json({"type": "subscribed", "groups": sorted(self.groups_joined)})

    async def live_update(self, event):
        """Messages sent with group_send(group, {"type": "live.update", "group": ..., "data": {...}})."""
        await self.send_json({"type": "update", "group": event["group"], "data": event["data"]})
