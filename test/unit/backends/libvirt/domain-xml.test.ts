// The libvirt domain document: the elements and attributes libvirt reads, the QEMU user network
// with its forwards, and escaping so no path or name can break the XML.
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { domainXml, type DomainOptions } from "../../../../src/backends/libvirt/domain-xml.js";

function options(overrides: Partial<DomainOptions> = {}): DomainOptions {
  return {
    name: "heyvm-sb-0123abcd",
    kvm: true,
    memoryMiB: 2048,
    vcpus: 2,
    kernel: "/images/ubuntu/vmlinux",
    initrd: "/images/ubuntu/initrd.img",
    disk: "/state/sb-0123abcd/disk.qcow2",
    diskSeclabel: true,
    serialLog: "/state/sb-0123abcd/serial.log",
    sshPort: 42022,
    forwards: [],
    network: true,
    shares: [{ socket: "/state/sb-0123abcd/fs/workspace.sock", tag: "workspace" }],
    firmwareConfig: [{ name: "opt/heyvm/config", file: "/state/sb-0123abcd/guest/config.json" }],
    ...overrides,
  };
}

/**
 * Checks that text is well-formed XML as far as this document goes: tags balance, attribute values
 * are quoted and hold no raw < or &, text holds no raw < or stray &. Returns the element names.
 */
function checkWellFormed(xml: string): string[] {
  const names: string[] = [];
  const stack: string[] = [];
  const entity = /&(amp|lt|gt|apos|quot);/g;
  let rest = xml;
  while (rest.length > 0) {
    const open = rest.indexOf("<");
    const text = open === -1 ? rest : rest.slice(0, open);
    assert.doesNotMatch(text.replace(entity, ""), /[&>]/, `raw & or > in text ${JSON.stringify(text)}`);
    if (open === -1) break;
    const tag = /^<(\/?)([A-Za-z_][\w:.-]*)((?:\s+[\w:.-]+='[^'<&]*(?:&(?:amp|lt|gt|apos|quot);[^'<&]*)*')*)\s*(\/?)>/.exec(rest.slice(open));
    assert.ok(tag, `malformed tag at ${JSON.stringify(rest.slice(open, open + 80))}`);
    const [whole, closing, name = "", , selfClosing] = tag;
    if (closing) assert.equal(stack.pop(), name, `</${name}> closes the wrong element`);
    else {
      names.push(name);
      if (!selfClosing) stack.push(name);
    }
    rest = rest.slice(open + whole.length);
  }
  assert.deepEqual(stack, [], "every element is closed");
  return names;
}

/** The value of attr on the first element <name ...> in xml. */
function attribute(xml: string, name: string, attr: string): string | undefined {
  const element = new RegExp(`<${name}(\\s[^>]*)?>`).exec(xml);
  return element?.[1] ? new RegExp(`\\s${attr}='([^']*)'`).exec(element[1])?.[1] : undefined;
}

function qemuArgs(xml: string): string[] {
  return [...xml.matchAll(/<qemu:arg value='([^']*)'\/>/g)].map((m) => m[1] ?? "");
}

describe("domainXml", () => {
  test("is one well-formed <domain> with the qemu namespace", () => {
    const xml = domainXml(options());
    const names = checkWellFormed(xml);
    assert.equal(names[0], "domain");
    assert.equal(attribute(xml, "domain", "xmlns:qemu"), "http://libvirt.org/schemas/domain/qemu/1.0");
  });

  test("with KVM: a kvm domain and the host's CPU; without: TCG and the maximum CPU model", () => {
    const kvm = domainXml(options({ kvm: true }));
    assert.equal(attribute(kvm, "domain", "type"), "kvm");
    assert.equal(attribute(kvm, "cpu", "mode"), "host-passthrough");
    const tcg = domainXml(options({ kvm: false }));
    assert.equal(attribute(tcg, "domain", "type"), "qemu");
    assert.equal(attribute(tcg, "cpu", "mode"), "maximum");
  });

  test("name, memory in MiB, vCPUs, shared memfd memory (virtiofs needs it)", () => {
    const xml = domainXml(options({ memoryMiB: 3072, vcpus: 4 }));
    assert.match(xml, /<name>heyvm-sb-0123abcd<\/name>/);
    assert.match(xml, /<memory unit='MiB'>3072<\/memory>/);
    assert.match(xml, /<vcpu>4<\/vcpu>/);
    assert.match(xml, /<memoryBacking><source type='memfd'\/><access mode='shared'\/><\/memoryBacking>/);
  });

  test("boots the kernel and initrd directly with a serial console and no reboot", () => {
    const xml = domainXml(options());
    assert.match(xml, /<type arch='x86_64' machine='q35'>hvm<\/type>/);
    assert.match(xml, /<kernel>\/images\/ubuntu\/vmlinux<\/kernel>/);
    assert.match(xml, /<initrd>\/images\/ubuntu\/initrd.img<\/initrd>/);
    const cmdline = /<cmdline>([^<]*)<\/cmdline>/.exec(xml)?.[1]?.split(" ");
    assert.ok(cmdline?.includes("console=ttyS0") && cmdline.includes("root=/dev/vda") && cmdline.includes("panic=-1"), String(cmdline));
    for (const event of ["on_poweroff", "on_reboot", "on_crash"]) assert.match(xml, new RegExp(`<${event}>destroy</${event}>`));
    assert.match(xml, /<features><acpi\/><\/features>/);
  });

  test("the qcow2 overlay as virtio vda and the serial log file", () => {
    const xml = domainXml(options());
    assert.match(
      xml,
      /<disk type='file' device='disk'>\s*<driver name='qemu' type='qcow2' discard='unmap'\/>\s*<source file='\/state\/sb-0123abcd\/disk.qcow2'>\s*<seclabel model='dac' relabel='no'\/>\s*<\/source>\s*<target dev='vda' bus='virtio'\/>\s*<\/disk>/,
    );
    assert.match(xml, /<serial type='file'><source path='\/state\/sb-0123abcd\/serial.log'\/><target port='0'\/><\/serial>/);
  });

  test("a session daemon (no DAC security driver) gets no seclabel on the disk", () => {
    const xml = domainXml(options({ diskSeclabel: false }));
    assert.doesNotMatch(xml, /seclabel/);
    assert.match(xml, /<source file='\/state\/sb-0123abcd\/disk.qcow2'>\s*<\/source>/);
  });

  test("one virtiofs filesystem per share, each on heyvm's own virtiofsd socket (libvirt starts none)", () => {
    const xml = domainXml(
      options({
        shares: [
          { socket: "/s/fs/workspace.sock", tag: "workspace" },
          { socket: "/s/fs/gitcommon.sock", tag: "gitcommon" },
        ],
      }),
    );
    const filesystems = [...xml.matchAll(/<filesystem type='mount'>([\s\S]*?)<\/filesystem>/g)].map((m) => m[1] ?? "");
    assert.equal(filesystems.length, 2);
    assert.doesNotMatch(xml, /<binary|<source dir=/, "no virtiofsd of libvirt's (it would run as root)");
    for (const [index, [socket, tag]] of [["/s/fs/workspace.sock", "workspace"], ["/s/fs/gitcommon.sock", "gitcommon"]].entries()) {
      const body = filesystems[index] ?? "";
      assert.match(body, /<driver type='virtiofs' queue='1024'\/>/);
      assert.ok(body.includes(`<source socket='${socket}'/>`), body);
      assert.ok(body.includes(`<target dir='${tag}'/>`), body);
    }
    assert.equal([...domainXml(options({ shares: [] })).matchAll(/<filesystem/g)].length, 0);
  });

  test("firmware config entries go in a fw_cfg sysinfo", () => {
    const xml = domainXml(
      options({
        firmwareConfig: [
          { name: "opt/heyvm/config", file: "/g/config.json" },
          { name: "opt/heyvm/authorized_keys", file: "/g/authorized_keys" },
        ],
      }),
    );
    const sysinfo = /<sysinfo type='fwcfg'>([\s\S]*?)<\/sysinfo>/.exec(xml)?.[1] ?? "";
    assert.deepEqual(
      [...sysinfo.matchAll(/<entry name='([^']*)' file='([^']*)'\/>/g)].map((m) => [m[1], m[2]]),
      [
        ["opt/heyvm/config", "/g/config.json"],
        ["opt/heyvm/authorized_keys", "/g/authorized_keys"],
      ],
    );
  });

  test("QEMU user networking forwards SSH and each port to 127.0.0.1 only", () => {
    const xml = domainXml(options({ sshPort: 42022, forwards: [{ host: 43000, guest: 3000 }, { host: 43001, guest: 8080 }] }));
    assert.deepEqual(qemuArgs(xml), [
      "-netdev",
      "user,id=heyvmnet,restrict=off,hostfwd=tcp:127.0.0.1:42022-:22,hostfwd=tcp:127.0.0.1:43000-:3000,hostfwd=tcp:127.0.0.1:43001-:8080",
      "-device",
      "virtio-net-pci,netdev=heyvmnet,bus=pcie.0,addr=0x10",
    ]);
  });

  test("without network the user network is restricted, and SSH is still forwarded", () => {
    const netdev = qemuArgs(domainXml(options({ network: false })))[1] ?? "";
    assert.equal(netdev, "user,id=heyvmnet,restrict=on,hostfwd=tcp:127.0.0.1:42022-:22");
  });

  test("escapes names and paths, so quotes, < and & cannot break out of elements or attributes", () => {
    const hostile = `/tmp/a'b"c<d>&e`;
    const xml = domainXml(
      options({
        name: `x</name><evil/>&`,
        kernel: hostile,
        disk: hostile,
        shares: [{ socket: hostile, tag: hostile }],
        firmwareConfig: [{ name: hostile, file: hostile }],
      }),
    );
    const names = checkWellFormed(xml);
    assert.ok(!names.includes("evil"), "no injected element");
    assert.match(xml, /<name>x&lt;\/name&gt;&lt;evil\/&gt;&amp;<\/name>/);
    assert.ok(xml.includes(`<source file='/tmp/a&apos;b&quot;c&lt;d&gt;&amp;e'>`));
    assert.ok(xml.includes(`<kernel>/tmp/a&apos;b&quot;c&lt;d&gt;&amp;e</kernel>`));
  });
});
