"""PyPI `mcp` 2.x client against the tenant server: initialize, tools/list, tools/call whoami,
prompts/list and prompts/get, resources/templates/list and resources/read of a mail message, an
event, a chat and files (the Graph double's), and everyday tools (catch_me_up, a Word file, an
Excel attachment, a new task), authenticated with a bearer token. Usage: python_client.py URL TOKEN. Exits non-zero on failure."""
import asyncio
import sys

import httpx2
from mcp import ClientSession
from mcp.client.streamable_http import streamable_http_client


async def main(url: str, token: str) -> None:
    async with httpx2.AsyncClient(headers={"Authorization": f"Bearer {token}"}) as http:
        async with streamable_http_client(url, http_client=http) as (read, write, *_):
            async with ClientSession(read, write) as session:
                init = await session.initialize()
                tools = await session.list_tools()
                names = [t.name for t in tools.tools]
                assert "whoami" in names, names
                result = await session.call_tool("whoami", {})
                assert not result.is_error, result
                subject = result.structured_content["subject"]
                prompts = [p.name for p in (await session.list_prompts()).prompts]
                assert "triage_inbox" in prompts, prompts
                brief = await session.get_prompt("prepare_next_meeting", {"meeting": "planning"})
                assert "meeting_brief" in brief.messages[0].content.text, brief
                templates = [t.uri_template for t in (await session.list_resource_templates()).resource_templates]
                assert "m365://mail/messages/{id}" in templates, templates
                message = await session.read_resource("m365://mail/messages/msg-0000")
                assert "notes on Q3 budget review" in message.contents[0].text, message
                event = await session.read_resource("m365://calendar/events/event-000")
                assert event.contents[0].text.startswith("Quarterly planning\n"), event
                chat = await session.read_resource("m365://teams/chats/19%3Amegan-adele%40unq.gbl.spaces")
                assert "Megan Bowen: Can you send me the Q3 numbers" in chat.contents[0].text, chat
                notes = await session.read_resource("m365://files/items/file-notes")
                assert "Q3 spend is 4 % under plan" in notes.contents[0].text, notes
                # Everyday tools, their structured results checked by the SDK against their output schemas.
                catch_up = await session.call_tool("catch_me_up", {"count": 5})
                assert not catch_up.is_error and catch_up.structured_content["gaps"] == [], catch_up
                plan = await session.call_tool("files_read_text", {"id": "file-plan"})
                assert "We ship on May 4 in two regions." in plan.structured_content["text"], plan
                sheet = await session.call_tool("mail_read_attachment", {"message_id": "msg-0012", "attachment_id": "att-12-xlsx"})
                assert "Travel\t1200" in sheet.structured_content["text"], sheet
                task = await session.call_tool("tasks_create_task", {"title": "Send the deck", "due": "2030-01-15"})
                assert not task.is_error and task.structured_content["due"] == "2030-01-15", task
                word = await session.read_resource("m365://files/items/file-plan")
                assert "Region\tOwner" in word.contents[0].text, word
                summary = await session.get_prompt("summarise_channel", {"team": "Marketing", "channel": "Campaigns"})
                assert "teams_read_channel" in summary.messages[0].content.text, summary
                print(f"python mcp client: protocol {init.protocol_version}, tools {names}, whoami subject {subject}, prompts {prompts}, templates {templates}, read {message.contents[0].uri}")


asyncio.run(main(sys.argv[1], sys.argv[2]))
