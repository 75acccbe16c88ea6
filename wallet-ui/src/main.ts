/** The wallet UI's entry: page-wide styles and the app element (which pulls in every page). */
import './theme.css';
import './components/ailo-app.js';
