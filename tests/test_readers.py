"""Thermal, clock, throttling and power readers against recorded tool output and a fake sysfs
tree with the real file names: parsing, units, missing files, garbage (None with a reason)."""

import os
import stat
import textwrap

import pytest

from edge.telemetry import power, thermal

# What `vcgencmd` prints on a Raspberry Pi (formats as documented and published).
THROTTLED = "throttled=0x50005\n"
MEASURE_TEMP = "temp=48.3'C\n"
PMIC_READ_ADC = textwrap.dedent("""\
     3V7_WL_SW_A current(0)=0.00000000A
       3V3_SYS_A current(1)=0.05172960A
       1V8_SYS_A current(2)=0.17177160A
      DDR_VDD2_A current(3)=0.02147040A
      DDR_VDDQ_A current(4)=0.00000000A
       1V1_SYS_A current(5)=0.17080620A
       0V8_SYS_A current(6)=0.33564140A
      VDD_CORE_A current(7)=0.71484030A
       3V3_DAC_A current(17)=0.00021980A
       3V3_ADC_A current(18)=0.00003860A
       0V8_AON_A current(16)=0.00051240A
          HDMI_A current(22)=0.02002200A
     3V7_WL_SW_V volt(8)=3.74216500V
       3V3_SYS_V volt(9)=3.31062200V
       1V8_SYS_V volt(10)=1.79951200V
      DDR_VDD2_V volt(11)=1.11111100V
      DDR_VDDQ_V volt(12)=0.60561020V
       1V1_SYS_V volt(13)=1.10537900V
       0V8_SYS_V volt(14)=0.80109870V
      VDD_CORE_V volt(15)=0.72164450V
       3V3_DAC_V volt(20)=3.30891200V
       3V3_ADC_V volt(21)=3.30768900V
       0V8_AON_V volt(19)=0.80012020V
          HDMI_V volt(23)=5.14467400V
         EXT5V_V volt(24)=5.14467400V
          BATT_V volt(25)=0.00000000V
""")


def recorded(answers):
    """A vcgencmd runner that answers from recorded text (None: not installed)."""
    def runner(args):
        return answers.get(" ".join(args))
    return runner


def write(root, rel, text):
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def test_throttled_decoded_into_words():
    value = thermal.parse_throttled(THROTTLED)
    assert value.value == "0x50005"
    words = thermal.decode_throttled(value.value)
    assert words == {"now": ["under-voltage detected", "currently throttled"],
                     "since_boot": ["under-voltage has occurred", "throttling has occurred"]}
    assert thermal.decode_throttled("0x0") == {"now": [], "since_boot": []}


def test_vcgencmd_missing_failing_and_garbage():
    missing = thermal.read_throttled(recorded({}))
    assert missing.value is None and "not installed" in missing.reason
    denied = thermal.read_throttled(lambda args: (255, "VCHI initialization failed: "
                                                       "/dev/vcio permission denied"))
    assert denied.value is None and "video' group" in denied.reason
    garbage = thermal.read_throttled(recorded({"get_throttled": (0, "what?\n")}))
    assert garbage.value is None and "unexpected" in garbage.reason


def test_temperature_from_thermal_zone_in_millidegrees(tmp_path):
    write(tmp_path, "class/thermal/thermal_zone0/type", "acpitz\n")
    write(tmp_path, "class/thermal/thermal_zone0/temp", "27800\n")
    write(tmp_path, "class/thermal/thermal_zone1/type", "cpu-thermal\n")
    write(tmp_path, "class/thermal/thermal_zone1/temp", "52125\n")
    value = thermal.read_temperature(tmp_path, recorded({}))
    assert value.value == pytest.approx(52.125) and "cpu-thermal" in value.source


def test_temperature_garbage_falls_back_to_vcgencmd_then_none(tmp_path):
    write(tmp_path, "class/thermal/thermal_zone0/type", "cpu-thermal\n")
    write(tmp_path, "class/thermal/thermal_zone0/temp", "n/a\n")
    via_tool = thermal.read_temperature(tmp_path, recorded({"measure_temp": (0, MEASURE_TEMP)}))
    assert via_tool.value == 48.3 and via_tool.source == "vcgencmd measure_temp"
    nothing = thermal.read_temperature(tmp_path, recorded({}))
    assert nothing.value is None and "n/a" in nothing.reason
    empty = thermal.read_temperature(tmp_path / "nowhere", recorded({}))
    assert empty.value is None and "no thermal zone" in empty.reason


def test_cpu_clock_and_governor(tmp_path):
    base = "devices/system/cpu/cpu0/cpufreq"
    write(tmp_path, f"{base}/scaling_cur_freq", "1500000\n")
    write(tmp_path, f"{base}/scaling_governor", "ondemand\n")
    freq, gov = thermal.read_cpu_clock(tmp_path)
    assert freq.value == 1500.0 and gov.value == "ondemand"
    write(tmp_path, f"{base}/scaling_cur_freq", "\x00\x01")
    freq, _ = thermal.read_cpu_clock(tmp_path)
    assert freq.value is None and "unexpected" in freq.reason
    freq, gov = thermal.read_cpu_clock(tmp_path / "none")
    assert freq.value is None and gov.value is None and "no cpufreq" in freq.reason


def test_pmic_sums_volts_times_amps_over_paired_rails():
    watts, why = power.parse_pmic(PMIC_READ_ADC)
    expected = (0.05172960 * 3.31062200 + 0.17177160 * 1.79951200 + 0.02147040 * 1.11111100
                + 0.17080620 * 1.10537900 + 0.33564140 * 0.80109870 + 0.71484030 * 0.72164450
                + 0.00021980 * 3.30891200 + 0.00003860 * 3.30768900 + 0.00051240 * 0.80012020
                + 0.02002200 * 5.14467400)  # EXT5V_V and BATT_V have no current: left out
    assert watts == pytest.approx(expected) and why == ""
    assert power.parse_pmic("garbage\n")[0] is None
    reader = power.PmicReader(recorded({"pmic_read_adc": (0, PMIC_READ_ADC)}))
    assert reader.sample().watts == pytest.approx(expected)
    assert not power.PmicReader(recorded({})).sample().ok


def test_hwmon_ina_power_energy_and_volt_amp(tmp_path):
    write(tmp_path, "class/hwmon/hwmon0/name", "coretemp\n")
    write(tmp_path, "class/hwmon/hwmon1/name", "ina219\n")
    write(tmp_path, "class/hwmon/hwmon1/power1_input", "2450000\n")  # microwatts
    sample = power.HwmonReader(tmp_path).sample()
    assert sample.watts == pytest.approx(2.45) and "ina219" in sample.method
    (tmp_path / "class/hwmon/hwmon1/power1_input").unlink()
    write(tmp_path, "class/hwmon/hwmon1/in1_input", "5100\n")  # mV (bus)
    write(tmp_path, "class/hwmon/hwmon1/curr1_input", "600\n")  # mA
    assert power.HwmonReader(tmp_path).sample().watts == pytest.approx(3.06)
    write(tmp_path, "class/hwmon/hwmon1/in1_input", "lots\n")
    broken = power.HwmonReader(tmp_path).sample()
    assert not broken.ok and "no readable" in broken.reason
    write(tmp_path, "class/hwmon/hwmon1/energy1_input", "7000000\n")  # microjoules
    assert power.HwmonReader(tmp_path).sample().energy_j == pytest.approx(7.0)
    assert "no INA2xx" in power.HwmonReader(tmp_path / "x").sample().reason


def test_rapl_counter_with_wraparound(tmp_path):
    zone = "class/powercap/intel-rapl:0"
    write(tmp_path, f"{zone}/name", "package-0\n")
    write(tmp_path, f"{zone}/max_energy_range_uj", "1000000\n")
    write(tmp_path, f"{zone}:0/energy_uj", "5\n")  # a sub-zone: not summed
    reader = power.RaplReader(tmp_path)
    for raw, total in (("900000", 0.0), ("950000", 0.05), ("100000", 0.200001)):
        write(tmp_path, f"{zone}/energy_uj", raw + "\n")
        sample = reader.sample()
        assert sample.energy_j == pytest.approx(total) and "package-0" in sample.method
    write(tmp_path, f"{zone}/energy_uj", "junk\n")
    assert "unreadable" in power.RaplReader(tmp_path).sample().reason
    assert "no RAPL" in power.RaplReader(tmp_path / "none").sample().reason


def test_estimate_is_labelled_and_follows_utilisation(tmp_path):
    write(tmp_path, "device-tree/model", "Raspberry Pi 4 Model B Rev 1.4\x00")
    write(tmp_path, "stat", "cpu  100 0 100 800 0 0 0 0 0 0\ncpu0 1 2 3 4\n")
    reader = power.EstimateReader(tmp_path)
    write(tmp_path, "stat", "cpu  150 0 150 900 0 0 0 0 0 0\n")  # 100 busy of 200: 50%
    sample = reader.sample()
    assert sample.estimated and "estimate" in sample.method and "Raspberry Pi 4" in sample.method
    assert sample.watts == pytest.approx(2.7 + 0.5 * (6.4 - 2.7))
    write(tmp_path, "device-tree/model", "Some Other Board\x00")
    unknown = power.EstimateReader(tmp_path).sample()
    assert not unknown.ok and "no power figures" in unknown.reason


class _Counter(power.PowerReader):
    name = "counter"

    def __init__(self, watts):
        import time
        self.t0, self.watts, self.time = time.monotonic(), watts, time

    def sample(self):
        return power.PowerSample("fake counter", energy_j=self.watts * (self.time.monotonic()
                                                                        - self.t0))


def test_energy_meter_integrates_and_subtracts_idle():
    meter = power.EnergyMeter([power.PowerReader(), _Counter(4.0)], interval=0.02)
    idle = meter.measure_idle(0.2)
    assert idle == pytest.approx(4.0, rel=0.05)
    assert meter.start()
    import time
    time.sleep(0.3)
    meter.stop()
    report = meter.report(inferences=30).to_dict()
    assert report["method"] == "fake counter" and report["estimated"] is False
    assert report["watts_mean"] == pytest.approx(4.0, rel=0.05)
    assert report["j_per_inference"] == pytest.approx(report["joules"] / 30, rel=1e-4)
    assert report["inferences_per_j"] == pytest.approx(30 / report["joules"], rel=1e-4)
    assert meter.report(30, subtract_idle=True).joules == pytest.approx(0.0, abs=0.05)
    assert meter.reasons == {"none": "not implemented"}


def test_no_reader_reports_reasons():
    meter = power.EnergyMeter([power.PmicReader(recorded({}))])
    assert meter.start() is False
    assert meter.report(10).to_dict() == {"method": None,
                                "reasons": {"pi5-pmic": "vcgencmd not installed (not a "
                                                        "Raspberry Pi?)"}}


def test_real_vcgencmd_process_on_path(tmp_path, monkeypatch):
    """The default runner spawns the real command: a script that prints recorded answers."""
    script = tmp_path / "vcgencmd"
    script.write_text("#!/bin/sh\ncase \"$1\" in\n"
                      f"  get_throttled) printf '{THROTTLED}' ;;\n"
                      f"  measure_temp) printf \"{MEASURE_TEMP.strip()}\\n\" ;;\n"
                      "  *) echo 'Command not registered' >&2; exit 255 ;;\nesac\n")
    script.chmod(script.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("PATH", f"{tmp_path}{os.pathsep}{os.environ['PATH']}")
    assert thermal.read_throttled().value == "0x50005"
    assert thermal.read_temperature(tmp_path / "nosys").value == 48.3
    failed = power.PmicReader().sample()
    assert not failed.ok and "Command not registered" in failed.reason
