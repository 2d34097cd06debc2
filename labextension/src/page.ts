/**
 * The token status page (GET ai-access/status) in a Lab tab. JupyterHub forbids framing the
 * user's server (frame-ancestors 'none'), so the page is fetched with the Lab's own credentials
 * and shown from srcdoc in a sandboxed iframe: no scripts, links open in a new tab.
 */
import { URLExt } from '@jupyterlab/coreutils';
import { ServerConnection } from '@jupyterlab/services';
import { TranslationBundle } from '@jupyterlab/translation';
import { Widget } from '@lumino/widgets';

/** The page with the current Lab theme's colours and fonts (read from its CSS variables). */
function themed(html: string): string {
  const style = getComputedStyle(document.body);
  const v = (name: string) => style.getPropertyValue(name).trim();
  const css =
    `body{background:${v('--jp-layout-color0')};color:${v('--jp-ui-font-color1')};` +
    `font-family:${v('--jp-ui-font-family')};font-size:${v('--jp-ui-font-size1')}}` +
    `a{color:${v('--jp-content-link-color')}}.warn{color:${v('--jp-error-color1')}}`;
  return html.replace('</head>', `<style>${css}</style></head>`);
}

export class StatusPage extends Widget {
  constructor(
    private _settings: ServerConnection.ISettings,
    private _trans: TranslationBundle
  ) {
    super();
    this.addClass('jp-AIAccess-page');
    this._frame = document.createElement('iframe');
    this._frame.setAttribute(
      'sandbox',
      'allow-popups allow-popups-to-escape-sandbox'
    );
    this._frame.title = _trans.__('Token status');
    this.node.appendChild(this._frame);
  }

  /** Fetch the page again and show it. */
  async load(): Promise<void> {
    const url = URLExt.join(this._settings.baseUrl, 'ai-access/status');
    try {
      const response = await ServerConnection.makeRequest(
        url,
        { cache: 'no-store' },
        this._settings
      );
      if (!response.ok) {
        throw new ServerConnection.ResponseError(response);
      }
      this._frame.srcdoc = themed(await response.text());
    } catch (error) {
      const p = document.createElement('p');
      p.textContent = this._trans.__(
        'The token status cannot be shown (%1). Your JupyterHub session may have ended.',
        (error as Error).message
      );
      this._frame.srcdoc = p.outerHTML;
    }
  }

  private _frame: HTMLIFrameElement;
}
