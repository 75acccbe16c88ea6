/** The miner GUI's entry (miner.html, served by ailo-miner on 127.0.0.1): page-wide styles and the app element. */
import '../theme.css';
import './ailo-miner-app.js';
