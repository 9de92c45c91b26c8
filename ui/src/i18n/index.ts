import i18n from "i18next";
import { initReactI18next } from "react-i18next";
import { en } from "./en";
import { nl } from "./nl";
import { sv } from "./sv";

export const LANGUAGES = [
  { code: "en", name: "English" },
  { code: "nl", name: "Nederlands" },
  { code: "sv", name: "Svenska" },
] as const;
export type LanguageCode = (typeof LANGUAGES)[number]["code"];

export const resources = { en: { translation: en }, nl: { translation: nl }, sv: { translation: sv } };

const STORAGE_KEY = "drive-repair.language";

/** The language the app starts in: the user's choice, else the OS/browser languages. */
export function initialLanguage(
  preferred: readonly string[] = typeof navigator !== "undefined" ? navigator.languages ?? [navigator.language] : [],
  saved: string | null = safeStorageGet(),
): LanguageCode {
  const known = LANGUAGES.map((l) => l.code) as string[];
  if (saved && known.includes(saved)) return saved as LanguageCode;
  for (const tag of preferred) {
    const base = tag.toLowerCase().split("-")[0];
    if (known.includes(base)) return base as LanguageCode;
  }
  return "en";
}

function safeStorageGet(): string | null {
  try {
    return typeof localStorage !== "undefined" ? localStorage.getItem(STORAGE_KEY) : null;
  } catch {
    return null;
  }
}

export function setLanguage(code: LanguageCode) {
  try {
    localStorage.setItem(STORAGE_KEY, code);
  } catch {
    /* private mode: the choice lasts for this session */
  }
  void i18n.changeLanguage(code);
  document.documentElement.lang = code;
}

void i18n.use(initReactI18next).init({
  resources,
  lng: initialLanguage(),
  fallbackLng: "en",
  interpolation: { escapeValue: false },
  returnNull: false,
});
if (typeof document !== "undefined") document.documentElement.lang = i18n.language;

export default i18n;
