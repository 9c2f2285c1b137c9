// What an interface is used for, from a few facts sysfs gives about it (see sysfs.ts).

/** What an interface is used for, detected from sysfs. */
export type LinkClass = "ethernet" | "wifi" | "lte" | "usb-tether" | "bt-pan" | "other";

export interface LinkFacts {
  readonly name: string;
  /** The bound driver (DRIVER= in /sys/class/net/X/device/uevent), when there is a device. */
  readonly driver?: string;
  /** /sys/class/net/X/phy80211 or /sys/class/net/X/wireless exists. */
  readonly wireless: boolean;
}

const USB_TETHER_DRIVERS: ReadonlySet<string> = new Set(["rndis_host", "cdc_ether", "cdc_ncm", "ipheth"]);
const LTE_DRIVERS: ReadonlySet<string> = new Set(["qmi_wwan", "cdc_mbim", "option"]);

/**
 * Evidence in order of strength: a wireless device, then the driver, then the name the kernel or udev
 * gave it. Names alone also classify virtual links (the lab's veths are named as real uplinks would be).
 */
export function classifyLink(f: LinkFacts): LinkClass {
  if (f.wireless) return "wifi";
  if (f.driver !== undefined) {
    if (USB_TETHER_DRIVERS.has(f.driver)) return "usb-tether";
    if (LTE_DRIVERS.has(f.driver)) return "lte";
  }
  const n = f.name;
  if (/^(wwan|ppp)/.test(n)) return "lte";
  if (n.startsWith("bnep")) return "bt-pan";
  if (n.startsWith("usb")) return "usb-tether";
  if (n.startsWith("wlan")) return "wifi";
  if (/^(eth|en)/.test(n)) return "ethernet";
  return "other";
}
