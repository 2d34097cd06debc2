/**
 * jupyter_ai_access in JupyterLab: a status-bar item (who am I, how fresh are my tokens), a
 * notification with "Log in again" when the session ends or renewal fails, and the token status
 * page in a Lab tab (command palette and Help menu).
 */
import {
  ILayoutRestorer,
  JupyterFrontEnd,
  JupyterFrontEndPlugin
} from '@jupyterlab/application';
import {
  ICommandPalette,
  MainAreaWidget,
  WidgetTracker
} from '@jupyterlab/apputils';
import { PageConfig, URLExt } from '@jupyterlab/coreutils';
import { IMainMenu } from '@jupyterlab/mainmenu';
import { IStatusBar } from '@jupyterlab/statusbar';
import { ITranslator, nullTranslator } from '@jupyterlab/translation';

import { isShown, TokenStatusItem } from './item';
import { Notifier } from './notifier';
import { StatusPage } from './page';
import { ITokenStatus, StatusPoller } from './poller';

namespace CommandIDs {
  export const openStatus = 'ai-access:open-status';
  export const login = 'ai-access:login';
}

const PLUGIN_ID = 'jupyter-ai-access:plugin';

/** Where to log in again: the server's absolute login URL, else the Hub's login page. */
function loginUrl(status: ITokenStatus | null): string {
  if (status?.login_url) {
    return status.login_url;
  }
  const hub = PageConfig.getOption('hubPrefix') || '/hub/';
  return URLExt.join(PageConfig.getOption('hubHost') || '', hub, 'login');
}

const plugin: JupyterFrontEndPlugin<void> = {
  id: PLUGIN_ID,
  description:
    'Who am I and how fresh are my tokens: a status-bar item for jupyter_ai_access.',
  autoStart: true,
  optional: [
    IStatusBar,
    ICommandPalette,
    IMainMenu,
    ITranslator,
    ILayoutRestorer
  ],
  activate: (
    app: JupyterFrontEnd,
    statusBar: IStatusBar | null,
    palette: ICommandPalette | null,
    mainMenu: IMainMenu | null,
    translator: ITranslator | null,
    restorer: ILayoutRestorer | null
  ): void => {
    const trans = (translator ?? nullTranslator).load('jupyter_ai_access');
    const poller = new StatusPoller(app.serviceManager.serverSettings);
    const tracker = new WidgetTracker<MainAreaWidget<StatusPage>>({
      namespace: 'ai-access'
    });

    app.commands.addCommand(CommandIDs.openStatus, {
      label: trans.__('AI Access: Token Status'),
      caption: trans.__(
        'Who you are and how fresh your tokens are (never a token value)'
      ),
      execute: () => {
        let widget = tracker.currentWidget;
        if (!widget || widget.isDisposed) {
          const content = new StatusPage(
            app.serviceManager.serverSettings,
            trans
          );
          widget = new MainAreaWidget({ content });
          widget.id = 'jp-AIAccess-status-page';
          widget.title.label = trans.__('Token Status');
          widget.title.closable = true;
          void tracker.add(widget);
          app.shell.add(widget, 'main');
        }
        void widget.content.load();
        app.shell.activateById(widget.id);
        return widget;
      }
    });
    app.commands.addCommand(CommandIDs.login, {
      label: trans.__('AI Access: Log In Again'),
      caption: trans.__('Opens the login page in a new tab'),
      execute: () => {
        window.open(loginUrl(poller.status), '_blank', 'noopener');
      }
    });
    palette?.addItem({
      command: CommandIDs.openStatus,
      category: trans.__('AI Access')
    });
    palette?.addItem({
      command: CommandIDs.login,
      category: trans.__('AI Access')
    });
    mainMenu?.helpMenu.addGroup([{ command: CommandIDs.openStatus }], 60);
    void restorer?.restore(tracker, {
      command: CommandIDs.openStatus,
      name: () => 'token-status'
    });

    const notifier = new Notifier(
      trans,
      () => void app.commands.execute(CommandIDs.login)
    );
    poller.changed.connect((_, status) => {
      notifier.update(status);
      const page = tracker.currentWidget;
      if (page && !page.isDisposed && page.isVisible) {
        void page.content.load(); // the open tab follows the state, with no polling of its own
      }
    });
    if (statusBar) {
      const item = new TokenStatusItem(poller, trans, () => {
        void app.commands.execute(CommandIDs.openStatus);
      });
      statusBar.registerStatusItem(PLUGIN_ID, {
        item,
        align: 'left',
        rank: 1000,
        isActive: () => isShown(poller.status),
        activeStateChanged: item.shownChanged
      });
    }
    poller.start();
  }
};

export default plugin;
