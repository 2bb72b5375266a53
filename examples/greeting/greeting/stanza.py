"""The <greeting/> element.

A request names a language; the answer carries the greeting as text::

    <iq type="get" id="g1" to="bot@localhost/bot">
      <greeting xmlns="urn:example:greeting" language="en"/>
    </iq>

    <iq type="result" id="g1" from="bot@localhost/bot">
      <greeting xmlns="urn:example:greeting" language="en">Good morning</greeting>
    </iq>

The interface is called ``language``, not ``lang``: slixmpp reserves ``lang``
for ``xml:lang`` on every stanza object, so ``greeting["lang"]`` would never
touch a ``lang`` attribute.
"""

from slixmpp.xmlstream import ElementBase

NAMESPACE = "urn:example:greeting"


class Greeting(ElementBase):
    name = "greeting"
    namespace = NAMESPACE
    plugin_attrib = "greeting"
    interfaces = {"language", "text"}

    def get_text(self) -> str:
        return self.xml.text or ""

    def set_text(self, text: str) -> None:
        self.xml.text = text

    def del_text(self) -> None:
        self.xml.text = None
