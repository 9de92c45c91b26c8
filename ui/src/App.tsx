import {
  Button, FluentProvider, MessageBar, MessageBarBody, Select, Text, makeStyles, tokens, webLightTheme,
} from "@fluentui/react-components";
import { useCallback, useEffect, useState } from "react";
import { useTranslation } from "react-i18next";
import { JobsScreen } from "./components/JobsScreen";
import { Wizard, type WizardStart } from "./components/Wizard";
import { LANGUAGES, setLanguage, type LanguageCode } from "./i18n";
import { ipc, type AppInfo } from "./ipc";

const useStyles = makeStyles({
  // The window never scrolls as a whole: only <main> does, so the header stays put.
  root: { display: "flex", flexDirection: "column", height: "100vh", overflow: "hidden", backgroundColor: tokens.colorNeutralBackground2 },
  header: {
    display: "flex", alignItems: "center", gap: tokens.spacingHorizontalL,
    padding: `${tokens.spacingVerticalS} ${tokens.spacingHorizontalXL}`,
    backgroundColor: tokens.colorBrandBackground, color: tokens.colorNeutralForegroundOnBrand,
  },
  brand: { display: "flex", alignItems: "center", gap: tokens.spacingHorizontalS, marginRight: tokens.spacingHorizontalXL },
  logo: { width: "28px", height: "28px" },
  title: { fontSize: tokens.fontSizeBase400, fontWeight: tokens.fontWeightSemibold, color: tokens.colorNeutralForegroundOnBrand },
  nav: { display: "flex", gap: tokens.spacingHorizontalS, flexGrow: 1 },
  navButton: {
    color: tokens.colorNeutralForegroundOnBrand,
    ":hover": { color: tokens.colorNeutralForegroundOnBrand, backgroundColor: tokens.colorBrandBackgroundHover },
    ":hover:active": { color: tokens.colorNeutralForegroundOnBrand, backgroundColor: tokens.colorBrandBackgroundPressed },
  },
  navActive: { backgroundColor: tokens.colorBrandBackgroundPressed },
  lang: { display: "flex", alignItems: "center", gap: tokens.spacingHorizontalS },
  langLabel: { color: tokens.colorNeutralForegroundOnBrand },
  banners: { display: "flex", flexDirection: "column", gap: tokens.spacingVerticalXS, padding: `${tokens.spacingVerticalS} ${tokens.spacingHorizontalXL} 0` },
  main: { flexGrow: 1, minHeight: 0, overflow: "auto", padding: `${tokens.spacingVerticalL} ${tokens.spacingHorizontalXL}`, ":focus": { outline: "none" } },
  skip: {
    position: "absolute", left: "-10000px", top: "auto",
    ":focus": { left: tokens.spacingHorizontalS, top: tokens.spacingVerticalS, zIndex: 10, padding: tokens.spacingHorizontalS, backgroundColor: tokens.colorNeutralBackground1, color: tokens.colorNeutralForeground1 },
  },
});

type Screen = { kind: "jobs" } | { kind: "wizard"; start: WizardStart };

export function App() {
  const { t, i18n } = useTranslation();
  const s = useStyles();
  const [screen, setScreen] = useState<Screen>({ kind: "jobs" });
  const [info, setInfo] = useState<AppInfo | null>(null);
  const [wizardKey, setWizardKey] = useState(0);

  useEffect(() => {
    ipc.appInfo().then(setInfo, () => setInfo(null));
  }, []);

  const openWizard = useCallback((start: WizardStart) => {
    setWizardKey((k) => k + 1);
    setScreen({ kind: "wizard", start });
  }, []);

  const goJobs = useCallback(() => setScreen({ kind: "jobs" }), []);
  const active = screen.kind === "jobs" ? "jobs" : screen.start.mode;

  return (
    <FluentProvider theme={webLightTheme} className={s.root}>
      <a href="#main" className={s.skip}>{t("app.skipToContent")}</a>
      <header className={s.header} data-testid="app-header">
        <div className={s.brand}>
          <img src="/icon.png" alt="" className={s.logo} />
          <Text as="h1" className={s.title}>{t("app.title")}</Text>
        </div>
        <nav className={s.nav} aria-label={t("app.title")}>
          <Button appearance="transparent" className={`${s.navButton} ${active === "jobs" ? s.navActive : ""}`}
            aria-current={active === "jobs" ? "page" : undefined} onClick={goJobs} data-testid="nav-jobs">
            {t("nav.jobs")}
          </Button>
          <Button appearance="transparent" className={`${s.navButton} ${active === "repair" ? s.navActive : ""}`}
            aria-current={active === "repair" ? "page" : undefined} onClick={() => openWizard({ mode: "repair" })} data-testid="nav-new-repair">
            {t("nav.newRepair")}
          </Button>
          <Button appearance="transparent" className={`${s.navButton} ${active === "verify" ? s.navActive : ""}`}
            aria-current={active === "verify" ? "page" : undefined} onClick={() => openWizard({ mode: "verify" })} data-testid="nav-verify">
            {t("nav.verifyOnly")}
          </Button>
        </nav>
        <div className={s.lang}>
          <label htmlFor="language" className={s.langLabel}>{t("app.language")}</label>
          <Select id="language" value={i18n.language} data-testid="language-select"
            onChange={(_, d) => setLanguage(d.value as LanguageCode)}>
            {LANGUAGES.map((l) => <option key={l.code} value={l.code}>{l.name}</option>)}
          </Select>
        </div>
      </header>
      <div className={s.banners}>
        {info?.simulated && (
          <MessageBar intent="warning" data-testid="simulated-banner"><MessageBarBody>{t("app.simulatedBanner")}</MessageBarBody></MessageBar>
        )}
        {info?.demo && !info.demo.error && (
          <MessageBar intent="info" data-testid="demo-banner"><MessageBarBody>{t("app.demoBanner", { folder: info.demo.folder })}</MessageBarBody></MessageBar>
        )}
        {info?.demo?.error && (
          <MessageBar intent="error" data-testid="demo-error"><MessageBarBody>{t("app.demoError", { folder: info.demo.folder, error: info.demo.error })}</MessageBarBody></MessageBar>
        )}
        {info?.load_warning && (
          <MessageBar intent="error" data-testid="load-warning"><MessageBarBody>{t("app.loadWarning")} {info.load_warning}</MessageBarBody></MessageBar>
        )}
      </div>
      <main id="main" className={s.main} tabIndex={-1}>
        {screen.kind === "jobs" ? (
          <JobsScreen onStart={openWizard} />
        ) : (
          <Wizard key={wizardKey} start={screen.start} onClose={goJobs} />
        )}
      </main>
    </FluentProvider>
  );
}
