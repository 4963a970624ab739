/** The zone's application (yours); multizone ships a demo echo app. */
export { startEchoApp } from './echo-app.ts';
